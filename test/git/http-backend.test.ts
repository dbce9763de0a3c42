import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createGitHttpHandler, matchGitRoute } from '../../src/git/http-backend.js';
import { basicAuthToken } from '../../src/git/http-auth.js';
import { parseCgiHead } from '../../src/git/cgi-response.js';
import { GATE_FILE, isolatedEnv, run, SLOW_HOOK, tempDir, TestGateway, workRepo } from './helpers.js';

describe('git/http-backend', () => {
  describe('routing and auth parsing', () => {
    it('serves only the smart HTTP endpoints', () => {
      expect(matchGitRoute('GET', '/git/web.git/info/refs?service=git-upload-pack')).to.deep.equal({
        repo: 'web',
        service: 'git-upload-pack',
        advertise: true,
      });
      expect(matchGitRoute('POST', '/git/web/git-receive-pack')).to.deep.equal({
        repo: 'web',
        service: 'git-receive-pack',
        advertise: false,
      });
      expect(matchGitRoute('GET', '/git/web.git/info/refs')).to.have.property('status', 403);
      expect(matchGitRoute('GET', '/git/web.git/info/refs?service=git-upload-archive')).to.have.property('status', 403);
      expect(matchGitRoute('HEAD', '/git/web.git/info/refs?service=git-upload-pack')).to.have.property('status', 404);
      expect(matchGitRoute('GET', '/git/web.git/git-upload-pack')).to.have.property('status', 404);
      expect(matchGitRoute('GET', '/git/web.git/HEAD')).to.have.property('status', 404);
      expect(matchGitRoute('GET', '/git/web.git/objects/info/packs')).to.have.property('status', 404);
      expect(matchGitRoute('GET', '/git/../etc/info/refs?service=git-upload-pack')).to.have.property('status', 404);
    });

    it('takes the token from the Basic password (or a lone user name)', () => {
      const basic = (s: string) => `Basic ${Buffer.from(s).toString('base64')}`;
      expect(basicAuthToken(basic('git:tok'))).to.equal('tok');
      expect(basicAuthToken(basic('tok:'))).to.equal('tok');
      expect(basicAuthToken(basic('x:a:b'))).to.equal('a:b');
      expect(basicAuthToken(basic(':'))).to.equal(undefined);
      expect(basicAuthToken('Bearer tok')).to.equal(undefined);
      expect(basicAuthToken(undefined)).to.equal(undefined);
    });

    it('parses CGI headers', () => {
      expect(parseCgiHead('Status: 403 Forbidden\r\nContent-Type: text/plain\r\n')).to.deep.equal({
        status: 403,
        statusMessage: 'Forbidden',
        headers: [['Content-Type', 'text/plain']],
      });
      expect(parseCgiHead('Expires: Fri, 01 Jan 1980 00:00:00 GMT')?.status).to.equal(200);
      expect(parseCgiHead('garbage')).to.equal(undefined);
    });
  });

  describe('with real git over HTTP', function () {
    this.timeout(30_000);

    let dir: string;
    let gateway: TestGateway;
    let server: Server;
    let base: string;
    let env: NodeJS.ProcessEnv;
    let work: string;
    const logs: string[] = [];

    before(async () => {
      dir = tempDir('http');
      gateway = new TestGateway(join(dir, 'repos'));
      const handler = createGitHttpHandler({ gateway, log: (m) => logs.push(m) });
      server = createServer((req, res) => {
        if (req.url?.startsWith('/git/')) return handler(req, res);
        res.writeHead(404).end();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `127.0.0.1:${(server.address() as AddressInfo).port}`;
      // An empty credential.helper list: no stored passwords, no prompts.
      env = isolatedEnv(dir, { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'credential.helper', GIT_CONFIG_VALUE_0: '' });
      work = await workRepo(join(dir, 'work'), env);
      await gateway.createApp('web');
    });

    after(async () => {
      server?.closeAllConnections();
      await new Promise((resolve) => server?.close(resolve));
      rmSync(dir, { recursive: true, force: true });
    });

    it('pushes and clones with a token', async () => {
      const url = `http://git:tok-alice@${base}/git/web.git`;
      const push = await run('git', ['push', url, 'main'], { cwd: work, env });
      expect(push.code, push.stderr).to.equal(0);
      expect(await gateway.lastPush()).to.deep.equal({ user: 'alice', app: 'web', closed: true });
      const clone = await run('git', ['clone', '-q', url, join(dir, 'clone')], { env });
      expect(clone.code, clone.stderr).to.equal(0);
      expect(readFileSync(join(dir, 'clone', 'Procfile'), 'utf8')).to.contain('web:');
    });

    it('fails a push without a token or with a wrong one', async () => {
      const pushesBefore = gateway.pushes.length;
      const none = await run('git', ['push', `http://${base}/git/web.git`, 'main'], { cwd: work, env });
      expect(none.code).not.to.equal(0);
      const wrong = await run('git', ['push', `http://git:nope@${base}/git/web.git`, 'main'], { cwd: work, env });
      expect(wrong.code).not.to.equal(0);
      expect(wrong.stderr).to.contain('remote: invalid or revoked API token');
      expect(wrong.stderr).to.contain('Authentication failed');
      expect(gateway.pushes.length).to.equal(pushesBefore);
    });

    it('answers 401 with a challenge on every endpoint, POSTs included', async () => {
      const pushesBefore = gateway.pushes.length;
      const post = await fetch(`http://${base}/git/web.git/git-receive-pack`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-git-receive-pack-request' },
        body: '0000',
      });
      expect(post.status).to.equal(401);
      expect(post.headers.get('www-authenticate')).to.equal('Basic realm="Slipway"');
      expect((await post.text()).trim().split('\n')).to.have.length(1);

      const wrong = await fetch(`http://${base}/git/web.git/git-upload-pack`, {
        method: 'POST',
        headers: { Authorization: `Basic ${Buffer.from('git:nope').toString('base64')}` },
        body: '0000',
      });
      expect(wrong.status).to.equal(401);
      const refs = await fetch(`http://${base}/git/web.git/info/refs?service=git-receive-pack`);
      expect(refs.status).to.equal(401);
      expect(gateway.pushes.length).to.equal(pushesBefore);
    });

    it('answers the gateway status and message for apps the user cannot reach', async () => {
      const auth = (token: string) => ({ Authorization: `Basic ${Buffer.from(`git:${token}`).toString('base64')}` });
      const ghost = await fetch(`http://${base}/git/ghost.git/info/refs?service=git-upload-pack`, { headers: auth('tok-alice') });
      expect(ghost.status).to.equal(404);
      expect(await ghost.text()).to.equal("app 'ghost' not found (create it with apps:create)\n");
      const bob = await fetch(`http://${base}/git/web.git/info/refs?service=git-upload-pack`, { headers: auth('tok-bob') });
      expect(bob.status).to.equal(404);
      const dumb = await fetch(`http://${base}/git/web.git/HEAD`, { headers: auth('tok-alice') });
      expect(dumb.status).to.equal(404);
      const ok = await fetch(`http://${base}/git/web.git/info/refs?service=git-upload-pack`, { headers: auth('tok-alice') });
      expect(ok.status).to.equal(200);
      expect(ok.headers.get('content-type')).to.equal('application/x-git-upload-pack-advertisement');
    });

    it('streams hook output to the client while the hook runs', async () => {
      rmSync(GATE_FILE, { force: true });
      await gateway.createApp('slow', SLOW_HOOK);
      const r = await run('git', ['push', `http://git:tok-alice@${base}/git/slow.git`, 'main'], {
        cwd: work,
        env,
        watch: /hook: first line/,
        onMatch: () => writeFileSync(GATE_FILE, ''),
      });
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stderr).to.match(/remote: hook: first line push=push-\d+/);
      expect(r.stderr).to.contain('remote: hook: second line');
      expect(r.matchedAt, 'first hook line seen').to.be.a('number');
      expect(await gateway.lastPush()).to.deep.equal({ user: 'alice', app: 'slow', closed: true });
    });

    it('accepts a large chunked push', async () => {
      const big = await workRepo(join(dir, 'big'), env);

      const { randomBytes } = await import('node:crypto');
      writeFileSync(join(big, 'blob.bin'), randomBytes(3 * 1024 * 1024));
      await run('git', ['add', '.'], { cwd: big, env });
      await run('git', ['commit', '-q', '-m', 'big'], { cwd: big, env });
      await gateway.createApp('big');
      const push = await run('git', ['-c', 'http.postBuffer=65536', 'push', `http://git:tok-alice@${base}/git/big.git`, 'main'], {
        cwd: big,
        env,
      });
      expect(push.code, push.stderr).to.equal(0);
    });
  });
});
