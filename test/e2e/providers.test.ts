import { expect } from 'chai';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';
import { previewName } from '../../src/vendors/preview-name.js';
import { query } from './db.js';
import { appRepo, eventually, git, httpGet, push, setMessage, tmpdir, useServer, type TestServer } from './harness.js';

/**
 * Issue 17 with real parts on loopback: a git server that wants a token
 * (git's own http-backend behind a small auth check) stands in for the
 * provider on 127.0.0.2, the only range the server's egress rule allows; a
 * trap on 127.0.0.1 proves a source there is refused before any connection.
 */
const PROVIDER_HOST = '127.0.0.2';
const TOKEN = `ghp_${crypto.randomBytes(12).toString('hex')}`;

interface Provider {
  base: string;
  root: string;
  /** The Authorization headers it saw, in order. */
  auth: string[];
  close(): void;
}

/** `git http-backend` as a CGI behind Basic auth whose password must be TOKEN. */
async function startProvider(): Promise<Provider> {
  const root = tmpdir('provider');
  const auth: string[] = [];
  const server = http.createServer((req, res) => {
    auth.push(req.headers.authorization ?? '');
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const password = basic ? Buffer.from(basic, 'base64').toString().split(':').slice(1).join(':') : '';
    if (password !== TOKEN) return void res.writeHead(401, { 'www-authenticate': 'Basic realm="provider"' }).end('bad credentials\n');
    const url = new URL(req.url ?? '/', 'http://provider');
    const cgi = spawn('git', ['http-backend'], {
      env: {
        PATH: process.env.PATH,
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        PATH_INFO: url.pathname,
        QUERY_STRING: url.search.slice(1),
        REQUEST_METHOD: req.method ?? 'GET',
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        REMOTE_USER: 'tester',
        ...(req.headers['git-protocol'] ? { GIT_PROTOCOL: String(req.headers['git-protocol']) } : {}),
      },
    });
    const input = req.headers['content-encoding'] === 'gzip' ? req.pipe(zlib.createGunzip()) : req;
    input.pipe(cgi.stdin);
    let head = Buffer.alloc(0);
    let sent = false;
    cgi.stdout.on('data', (d: Buffer) => {
      if (sent) return void res.write(d);
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      let status = 200;
      for (const line of head.subarray(0, end).toString().split('\r\n')) {
        const [k, ...v] = line.split(':');
        if (/^status$/i.test(k!)) status = Number(v.join(':').trim().split(' ')[0]);
        else res.setHeader(k!, v.join(':').trim());
      }
      res.writeHead(status);
      res.write(head.subarray(end + 4));
      sent = true;
    });
    cgi.stdout.on('end', () => res.end());
  });
  await new Promise<void>((r) => server.listen(0, PROVIDER_HOST, r));
  return { base: `http://${PROVIDER_HOST}:${(server.address() as AddressInfo).port}`, root, auth, close: () => server.close() };
}

/** Processes whose environment names the app (every instance's has SLIPWAY_APP). */
function appPids(app: string): string[] {
  return fs.readdirSync('/proc').filter((pid) => {
    if (!/^\d+$/.test(pid)) return false;
    try {
      return fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`SLIPWAY_APP=${app}`);
    } catch {
      return false;
    }
  });
}

describe('e2e: git providers, push webhooks and preview apps', function () {
  this.timeout(600_000);
  const env = useServer({ env: { SLIPWAY_EGRESS_ALLOW: `${PROVIDER_HOST}/32` } });
  let server: TestServer;
  let provider: Provider;
  /** The developer's clone, pushed to the provider's acme/shop.git. */
  let work = '';
  let upstream = '';
  let secret = '';

  const cli = (args: string[], input?: string) => {
    const r = server.cli(args, input);
    expect(r.code, `slipway ${args.join(' ')}: ${r.stderr}${r.stdout}`).to.equal(0);
    return r.stdout;
  };
  /** Commands that make the server fetch from the provider: this process must stay free to answer it. */
  const cliAsync = async (args: string[]) => {
    const r = await server.cliAsync(args);
    expect(r.code, `slipway ${args.join(' ')}: ${r.stderr}${r.stdout}`).to.equal(0);
    return r.stdout;
  };
  const releases = (app: string) =>
    query(
      server.home,
      'SELECT r.version, r.status FROM releases r JOIN apps a ON a.id = r.app_id WHERE a.name = ? ORDER BY r.version',
      app,
    );
  const body = async (app: string) => (await server.get(app)).body.trim();
  /** A new commit on the provider's main (as a developer pushing to GitHub would make). */
  const publish = (text: string, branch = 'main') => {
    git(work, ['checkout', '-q', branch]);
    const sha = setMessage(work, text);
    const r = git(work, ['push', '-q', upstream, `${branch}:${branch}`]);
    expect(r.code, r.stderr).to.equal(0);
    return sha;
  };
  const deliver = (vendor: string, headers: Record<string, string>, raw: string) =>
    httpGet({
      port: server.ports.http,
      host: `127.0.0.1:${server.ports.http}`,
      method: 'POST',
      path: `/api/v1/hooks/prov/${vendor}`,
      headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(raw)), ...headers },
      body: raw,
    });
  const waitJob = (answer: { body: string }) => cliAsync(['jobs:wait', String(JSON.parse(answer.body).job as number)]);
  const hmac = (raw: string) => `sha256=${crypto.createHmac('sha256', secret).update(raw).digest('hex')}`;

  before(async () => {
    server = env.server;
    provider = await startProvider();
    upstream = path.join(provider.root, 'acme', 'shop.git');
    fs.mkdirSync(path.dirname(upstream), { recursive: true });
    expect(git(provider.root, ['init', '-q', '--bare', '-b', 'main', upstream]).code).to.equal(0);
    work = appRepo('procfile-hello');
    publish('provider v1');
  });
  after(() => provider?.close());

  it('deploys the source branch with a vendor account whose token is sealed and never shown', async () => {
    const added = cli(['vendors:add', 'github', '--token', '-', '--host', provider.base, '--username', 'octo'], `${TOKEN}\n`);
    expect(added).to.include('sealed').and.not.include(TOKEN);
    expect(cli(['vendors']))
      .to.match(/github\s+http:\/\/127\.0\.0\.2:\d+\s+octo/)
      .and.not.include(TOKEN);
    const stored = query(server.home, 'SELECT token FROM vendor_accounts')[0].token as string;
    expect(stored).to.not.include(TOKEN);
    cli(['apps:create', 'prov']);
    cli(['apps:set', 'prov', 'source=github:acme/shop#main']);
    const out = await cliAsync(['deploy', 'prov']);
    expect(out).to.include('v1 of prov is live').and.not.include(TOKEN);
    expect(await body('prov')).to.equal('provider v1');
    // The provider got the token as a header; the job log and the stored job never hold it.
    expect(provider.auth.some((a) => a === `Basic ${Buffer.from(`x-access-token:${TOKEN}`).toString('base64')}`)).to.equal(true);
    for (const row of query(server.home, 'SELECT params, log_path FROM jobs')) {
      expect(row.params).to.not.include(TOKEN);
      expect(fs.readFileSync(row.log_path, 'utf8')).to.not.include(TOKEN);
    }
  });

  it('a wrong token fails with one line naming the vendor, and the live release keeps serving', async () => {
    publish('provider v2 never deployed');
    cli(['vendors:add', 'github', '--token', 'wrong-token', '--host', provider.base]);
    const r = await server.cliAsync(['deploy', 'prov']);
    expect(r.code).to.not.equal(0);
    const said = (r.stdout + r.stderr).split('\n').filter((l) => /refused the token/.test(l));
    expect(said, r.stdout + r.stderr).to.have.length.greaterThan(0);
    expect(said[0]).to.match(/github: the provider refused the token of the github account/);
    expect(r.stdout + r.stderr).to.not.include('wrong-token');
    expect(releases('prov')).to.deep.equal([{ version: 1, status: 'succeeded' }]);
    expect(await body('prov')).to.equal('provider v1');
    cli(['vendors:add', 'github', '--token', TOKEN, '--host', provider.base]);
  });

  it('refuses a source on a loopback address the egress rule does not allow, without connecting', async () => {
    const hits: string[] = [];
    const trap = http.createServer((req, res) => (hits.push(req.url ?? ''), res.end()));
    await new Promise<void>((r) => trap.listen(0, '127.0.0.1', r));
    try {
      const port = (trap.address() as AddressInfo).port;
      cli(['vendors:add', 'gitlab', '--token', TOKEN, '--host', `http://127.0.0.1:${port}`]);
      cli(['apps:create', 'trapped']);
      cli(['apps:set', 'trapped', 'source=gitlab:acme/shop#main']);
      const r = await server.cliAsync(['deploy', 'trapped']);
      expect(r.code).to.not.equal(0);
      expect(r.stdout + r.stderr).to.match(/source: http:\/\/127\.0\.0\.1:\d+\/acme\/shop\.git .*(loopback|not allowed)/i);
      expect(hits).to.deep.equal([]);
      expect(releases('trapped')).to.deep.equal([]);
    } finally {
      trap.close();
    }
  });

  it('deploys a GitHub push delivery; a bad signature is 401, another branch 202, a replayed delivery is ignored', async () => {
    const info = cli(['hooks:info', 'prov']);
    secret = /Secret:\s+(\S+)/.exec(info)![1]!;
    expect(info).to.include(`/api/v1/hooks/prov/github`);
    const before = publish('provider v3 from github');
    // As GitHub documents a push delivery: X-GitHub-Event, X-GitHub-Delivery, X-Hub-Signature-256 over the raw body.
    const payload = (ref: string, after: string) =>
      JSON.stringify({
        ref,
        before: '0'.repeat(40),
        after,
        created: false,
        deleted: false,
        forced: false,
        repository: { id: 1, name: 'shop', full_name: 'acme/shop', default_branch: 'main' },
        pusher: { name: 'octo', email: 'octo@example.com' },
        head_commit: { id: after, message: 'say provider v3 from github' },
        commits: [],
      });
    const raw = payload('refs/heads/main', before);
    const headers = (delivery: string, signature: string) => ({
      'user-agent': 'GitHub-Hookshot/044aadd',
      'x-github-event': 'push',
      'x-github-delivery': delivery,
      'x-github-hook-id': '292430182',
      'x-hub-signature-256': signature,
    });
    const bad = await deliver('github', headers(crypto.randomUUID(), hmac(`${raw} `)), raw);
    expect(bad.status, bad.body).to.equal(401);
    expect(await deliver('github', headers(crypto.randomUUID(), 'sha256=00'), 'not json')).to.have.property('status', 401);
    expect(releases('prov')).to.have.length(1);

    const other = payload('refs/heads/other', before);
    const ignored = await deliver('github', headers(crypto.randomUUID(), hmac(other)), other);
    expect(ignored.status).to.equal(202);
    expect(JSON.parse(ignored.body).ignored).to.match(/other.*prov deploys main/);

    const id = crypto.randomUUID();
    const ok = await deliver('github', headers(id, hmac(raw)), raw);
    expect(ok.status, ok.body).to.equal(200);
    expect(JSON.parse(ok.body).deployed).to.equal(before);
    await waitJob(ok);
    expect(await body('prov')).to.equal('provider v3 from github');
    const replay = await deliver('github', headers(id, hmac(raw)), raw);
    expect(replay.status).to.equal(202);
    expect(JSON.parse(replay.body).ignored).to.match(/already received/);
    // The same signed body under a new delivery id (the signature does not cover the id): the commit is live, nothing redeploys.
    const resent = await deliver('github', headers(crypto.randomUUID(), hmac(raw)), raw);
    expect(resent.status, resent.body).to.equal(202);
    expect(JSON.parse(resent.body).ignored).to.match(/is already live on prov/);
    // v1 from `deploy`, v2 from this delivery: the wrong token's attempt failed before making a release.
    expect(releases('prov')).to.deep.equal([
      { version: 1, status: 'succeeded' },
      { version: 2, status: 'succeeded' },
    ]);
  });

  it('deploys GitLab and Bitbucket push deliveries built as their documentation shows', async () => {
    const gl = publish('provider v4 from gitlab');
    const glRaw = JSON.stringify({
      object_kind: 'push',
      event_name: 'push',
      before: '0'.repeat(40),
      after: gl,
      ref: 'refs/heads/main',
      checkout_sha: gl,
      user_username: 'octo',
      project: { id: 15, name: 'shop', path_with_namespace: 'acme/shop', default_branch: 'main' },
      commits: [{ id: gl, message: 'say provider v4 from gitlab' }],
      total_commits_count: 1,
    });
    const glHeaders = {
      'x-gitlab-event': 'Push Hook',
      'x-gitlab-event-uuid': crypto.randomUUID(),
      'x-gitlab-instance': 'https://gitlab.com',
    };
    expect((await deliver('gitlab', { ...glHeaders, 'x-gitlab-token': 'nope' }, glRaw)).status).to.equal(401);
    const glOk = await deliver('gitlab', { ...glHeaders, 'x-gitlab-token': secret }, glRaw);
    expect(glOk.status, glOk.body).to.equal(200);
    await waitJob(glOk);
    expect(await body('prov')).to.equal('provider v4 from gitlab');

    const bb = publish('provider v5 from bitbucket');
    const bbRaw = JSON.stringify({
      actor: { display_name: 'Octo', type: 'user' },
      repository: { full_name: 'acme/shop', type: 'repository' },
      push: {
        changes: [
          {
            new: { type: 'branch', name: 'main', target: { type: 'commit', hash: bb } },
            old: { type: 'branch', name: 'main', target: { type: 'commit', hash: gl } },
            created: false,
            closed: false,
            forced: false,
          },
        ],
      },
    });
    const bbOk = await deliver(
      'bitbucket',
      {
        'user-agent': 'Bitbucket-Webhooks/2.0',
        'x-event-key': 'repo:push',
        'x-request-uuid': crypto.randomUUID(),
        'x-hook-uuid': crypto.randomUUID(),
        'x-attempt-number': '1',
        'x-hub-signature': hmac(bbRaw),
      },
      bbRaw,
    );
    expect(bbOk.status, bbOk.body).to.equal(200);
    await waitJob(bbOk);
    expect(await body('prov')).to.equal('provider v5 from bitbucket');
  });

  it('a GitHub pull request makes a preview fetched from the provider; closing it removes the preview', async () => {
    cli(['apps:set', 'prov', 'previews=true']);
    git(work, ['checkout', '-q', '-b', 'feature']);
    const head = publish('prov feature branch', 'feature');
    const pr = (action: string) =>
      JSON.stringify({
        action,
        number: 7,
        pull_request: {
          number: 7,
          state: action === 'closed' ? 'closed' : 'open',
          head: { ref: 'feature', sha: head, repo: { full_name: 'acme/shop' } },
          base: { ref: 'main', sha: '0'.repeat(40), repo: { full_name: 'acme/shop' } },
        },
        repository: { full_name: 'acme/shop' },
      });
    const send = (raw: string) =>
      deliver(
        'github',
        { 'x-github-event': 'pull_request', 'x-github-delivery': crypto.randomUUID(), 'x-hub-signature-256': hmac(raw) },
        raw,
      );
    const opened = await send(pr('opened'));
    expect(opened.status, opened.body).to.equal(200);
    expect(JSON.parse(opened.body).preview).to.equal('prov-pr-feature');
    await waitJob(opened);
    expect(await body('prov-pr-feature')).to.equal('prov feature branch');
    expect(await body('prov')).to.equal('provider v5 from bitbucket');
    const closed = await send(pr('closed'));
    expect(closed.status, closed.body).to.equal(200);
    expect(JSON.parse(closed.body).removed).to.equal('prov-pr-feature');
    expect(query(server.home, "SELECT id FROM apps WHERE name = 'prov-pr-feature'")).to.deep.equal([]);
    expect(fs.existsSync(path.join(server.home, 'repos', 'prov-pr-feature.git'))).to.equal(false);
  });

  it('answers garbage with 400, a huge body with 413 and a flood with 429, and stays up', async () => {
    const garbage = await deliver('gitlab', { 'x-gitlab-token': secret, 'x-gitlab-event': 'Push Hook' }, '{"object_kind": "push", ');
    expect(garbage.status, garbage.body).to.equal(400);
    const huge = await deliver('github', { 'x-github-event': 'push', 'x-hub-signature-256': 'sha256=00' }, `"${'x'.repeat(600 * 1024)}"`);
    expect(huge.status).to.equal(413);
    const answers: number[] = [];
    for (let i = 0; i < 70; i++) answers.push((await deliver('github', { 'x-github-event': 'push' }, '{}')).status);
    expect(answers).to.include(401).and.include(429);
    expect(answers.indexOf(429)).to.be.greaterThan(answers.indexOf(401));
    const releasesBefore = releases('prov').length;
    expect(releasesBefore).to.equal(4);
    expect(await body('prov')).to.equal('provider v5 from bitbucket');
  });

  it('a branch push makes a preview that serves its own body; deleting the branch removes it and all it made', async () => {
    const key = env.key;
    cli(['apps:create', 'shop']);
    const repo = appRepo('procfile-hello');
    setMessage(repo, 'shop main');
    const remote = server.sshRemote('shop');
    expect((await push(repo, remote, { sshCommand: key.sshCommand })).code).to.equal(0);
    cli(['config:set', 'shop', 'SHARED=yes']);
    cli(['config:set', 'shop', '--no-preview', 'PROD_DB=postgres://prod']);
    cli(['apps:set', 'shop', 'previews=true']);
    const branch = 'Feature/Login.v2';
    const name = previewName('shop', branch);
    git(repo, ['checkout', '-q', '-b', branch]);
    setMessage(repo, 'shop preview');
    const pushed = await push(repo, remote, { sshCommand: key.sshCommand, ref: branch });
    expect(pushed.code, pushed.stderr).to.equal(0);
    expect(pushed.stderr).to.include(`Created the preview app ${name}`);
    expect(await body(name)).to.equal('shop preview');
    expect(await body('shop')).to.equal('shop main');
    const config = cli(['config', name]);
    expect(config).to.include('SHARED').and.not.include('PROD_DB');
    expect(cli(['apps:info', 'shop'])).to.include(`${name} (${branch})`);
    expect(cli(['apps:info', name])).to.match(/Preview of:\s+shop/);

    // A branch whose preview name is another app's never touches that app.
    cli(['apps:create', 'shop-pr-taken']);
    git(repo, ['checkout', '-q', '-b', 'taken']);
    // post-receive runs after the refs moved, so git's exit code cannot say it; the pusher is told.
    const refused = await push(repo, remote, { sshCommand: key.sshCommand, ref: 'taken' });
    expect(refused.stderr).to.include('the preview name shop-pr-taken is already taken');
    expect(releases('shop-pr-taken')).to.deep.equal([]);

    const appId = query(server.home, 'SELECT id FROM apps WHERE name = ?', name)[0].id;
    expect(appPids(name)).to.not.deep.equal([]);
    const removed = await push(repo, remote, { sshCommand: key.sshCommand, ref: `:${branch}` });
    expect(removed.code, removed.stderr).to.equal(0);
    expect(removed.stderr).to.include(`removed the preview app ${name}`);
    expect(query(server.home, 'SELECT id FROM apps WHERE name = ?', name)).to.deep.equal([]);
    expect(query(server.home, 'SELECT id FROM releases WHERE app_id = ?', appId)).to.deep.equal([]);
    expect(fs.existsSync(path.join(server.home, 'repos', `${name}.git`))).to.equal(false);
    expect(fs.existsSync(path.join(server.home, 'apps', name))).to.equal(false);
    expect((await server.get(name)).status).to.not.equal(200);
    await eventually(() => appPids(name).length === 0, `the processes of ${name} to end`);
    expect(await body('shop')).to.equal('shop main');
  });
});
