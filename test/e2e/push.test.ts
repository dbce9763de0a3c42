import { expect } from 'chai';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { addBuildpack, appRepo, commitAll, httpGet, push, setMessage, sshKey, TestServer, useServer } from './harness.js';
import { query } from './db.js';

describe('e2e: git push deploys (SSH and HTTP)', function () {
  this.timeout(180_000);
  const env = useServer();
  let server: TestServer;
  let key: ReturnType<typeof sshKey>;
  beforeEach(() => ({ server, key } = env));

  it('serves the node example pushed over SSH, then the changed body as v2', async () => {
    expect(server.cli(['apps:create', 'sshapp']).code).to.equal(0);
    const repo = appRepo('node-hello');
    setMessage(repo, 'first over ssh');
    const first = await push(repo, server.sshRemote('sshapp'), { sshCommand: key.sshCommand });
    expect(first.code, first.stderr).to.equal(0);
    expect(first.stderr).to.include('remote: -----> Build');
    expect(first.stderr).to.include('v1 of sshapp is live');
    expect((await server.get('sshapp')).body.trim()).to.equal('first over ssh');

    setMessage(repo, 'second over ssh');
    const second = await push(repo, server.sshRemote('sshapp'), { sshCommand: key.sshCommand });
    expect(second.code, second.stderr).to.equal(0);
    expect(second.stderr).to.include('v2 of sshapp is live');
    expect((await server.get('sshapp')).body.trim()).to.equal('second over ssh');
    const rows = query(
      server.home,
      "SELECT version, status FROM releases r JOIN apps a ON a.id = r.app_id WHERE a.name = 'sshapp' ORDER BY version",
    );
    expect(rows).to.deep.equal([
      { version: 1, status: 'succeeded' },
      { version: 2, status: 'succeeded' },
    ]);
    const archives = fs.readdirSync(path.join(server.home, 'apps', 'sshapp', 'archives'));
    expect(archives.some((f) => /^v2-[0-9a-f]{64}\.tar\.gz$/.test(f))).to.equal(true);
  });

  it('accepts the scp-style remote slipway@host:APP', async () => {
    expect(server.cli(['apps:create', 'scpapp']).code).to.equal(0);
    const repo = appRepo('procfile-hello');
    const r = await push(repo, 'slipway@127.0.0.1:scpapp', { sshCommand: `${key.sshCommand} -p ${server.ports.ssh}` });
    expect(r.code, r.stderr).to.equal(0);
    expect((await server.get('scpapp')).body.trim()).to.equal('Hello from Slipway');
  });

  it('serves a push over HTTP with a token, and a second push as v2', async () => {
    expect(server.cli(['apps:create', 'httpapp']).code).to.equal(0);
    const token = server.cli(['tokens:create']).stdout.trim();
    expect(token).to.match(/^slp_/);
    const repo = appRepo('node-hello');
    setMessage(repo, 'first over http');
    const first = await push(repo, server.httpRemote('httpapp', token));
    expect(first.code, first.stderr).to.equal(0);
    expect((await server.get('httpapp')).body.trim()).to.equal('first over http');
    setMessage(repo, 'second over http');
    const second = await push(repo, server.httpRemote('httpapp', token));
    expect(second.code, second.stderr).to.equal(0);
    expect(second.stderr).to.include('v2 of httpapp is live');
    expect((await server.get('httpapp')).body.trim()).to.equal('second over http');
  });

  it('refuses HTTP pushes without a token, with a wrong token, and a bare POST to git-receive-pack; no job is created', async () => {
    expect(server.cli(['apps:create', 'locked']).code).to.equal(0);
    const repo = appRepo('procfile-hello');
    const none = await push(repo, server.httpRemote('locked'));
    expect(none.code).to.not.equal(0);
    const wrong = await push(repo, server.httpRemote('locked', 'slp_not-a-real-token'));
    expect(wrong.code).to.not.equal(0);
    expect(wrong.stderr).to.match(/Authentication failed|401/);
    const post = await httpGet({
      port: server.ports.http,
      host: '127.0.0.1',
      method: 'POST',
      path: '/git/locked.git/git-receive-pack',
      headers: { 'content-type': 'application/x-git-receive-pack-request' },
      body: '0000',
    });
    expect(post.status).to.equal(401);
    const jobs = query(server.home, "SELECT count(*) AS n FROM jobs j JOIN apps a ON a.id = j.app_id WHERE a.name = 'locked'");
    expect(jobs[0].n).to.equal(0);
  });

  it('refuses an unknown SSH key', async () => {
    expect(server.cli(['apps:create', 'nokey']).code).to.equal(0);
    const stranger = sshKey();
    const r = await push(appRepo('procfile-hello'), server.sshRemote('nokey'), { sshCommand: stranger.sshCommand });
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.match(/Permission denied/);
    expect(query(server.home, 'SELECT count(*) AS n FROM jobs')[0].n).to.be.a('number');
    expect(query(server.home, "SELECT count(*) AS n FROM jobs j JOIN apps a ON a.id = j.app_id WHERE a.name = 'nokey'")[0].n).to.equal(0);
  });

  it("refuses a push to another user's app with a clear message, and to a missing app with the command that creates it", async () => {
    expect(server.cli(['users:add', 'bob']).code).to.equal(0);
    const bob = sshKey();
    expect(server.cli(['keys:add', '--user', 'bob', bob.pub]).code).to.equal(0);
    expect(server.cli(['apps:create', 'alices']).code).to.equal(0);
    const repo = appRepo('procfile-hello');
    const r = await push(repo, server.sshRemote('alices'), { sshCommand: bob.sshCommand });
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.include('app "alices" does not exist, or you have no access to it');
    const missing = await push(repo, server.sshRemote('ghost'), { sshCommand: key.sshCommand });
    expect(missing.code).to.not.equal(0);
    expect(missing.stderr).to.include('slipway apps:create ghost');
    const token = server.cli(['tokens:create', '--user', 'bob']).stdout.trim();
    const overHttp = await push(repo, server.httpRemote('alices', token));
    expect(overHttp.code).to.not.equal(0);
    expect(query(server.home, "SELECT count(*) AS n FROM jobs j JOIN apps a ON a.id = j.app_id WHERE a.name = 'alices'")[0].n).to.equal(0);
  });

  it('stores a push to another branch without deploying it, and says so', async () => {
    expect(server.cli(['apps:create', 'branches']).code).to.equal(0);
    const repo = appRepo('procfile-hello');
    const r = await push(repo, server.sshRemote('branches'), { sshCommand: key.sshCommand, ref: 'main:feature' });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.include('Stored feature; only pushes to main deploy branches');
    expect(query(server.home, "SELECT count(*) AS n FROM jobs j JOIN apps a ON a.id = j.app_id WHERE a.name = 'branches'")[0].n).to.equal(
      0,
    );
  });

  for (const transport of ['ssh', 'http'] as const) {
    it(`streams build output over ${transport} while the build runs, not at the end`, async () => {
      const app = `streamy-${transport}`;
      expect(server.cli(['apps:create', app]).code).to.equal(0);
      const repo = appRepo('procfile-hello');
      addBuildpack(repo, 'slow-buildpack', 'echo "-----> early line"\nsleep 4\necho "-----> late line"');
      commitAll(repo, 'slow build');
      const remote = transport === 'ssh' ? server.sshRemote(app) : server.httpRemote(app, server.cli(['tokens:create']).stdout.trim());
      const child = spawn('git', ['push', remote, 'main'], { cwd: repo, env: { ...process.env, GIT_SSH_COMMAND: key.sshCommand } });
      let stderr = '';
      let exited = false;
      const seenEarly = new Promise<{ lateSeen: boolean; exited: boolean }>((resolve) => {
        child.stderr.on('data', (d) => {
          stderr += d;
          if (stderr.includes('early line')) resolve({ lateSeen: stderr.includes('late line'), exited });
        });
      });
      const done = new Promise<number>((resolve) => child.on('close', (code) => ((exited = true), resolve(code ?? -1))));
      const atEarly = await Promise.race([seenEarly, done.then(() => ({ lateSeen: true, exited: true }))]);
      // The early line arrived while the build was still sleeping: the push had not ended and the late line was not out.
      expect(atEarly.exited).to.equal(false);
      expect(atEarly.lateSeen).to.equal(false);
      expect(await done, stderr).to.equal(0);
      expect(stderr).to.include('late line');
    });
  }
});
