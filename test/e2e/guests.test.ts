import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { appRepo, commitAll, eventually, httpGet, push, useServer, type Result, type TestServer } from './harness.js';
import { requires } from '../support/requires.js';

/**
 * The guest contract under the process driver (Heroku's): /app is the release,
 * writable and ephemeral per process; predeploy's writes are kept; limits per
 * process type are applied and a process killed by its limit says so.
 */

/** A web process that reports what it sees: GET /read?p=FILE answers the file, /hog allocates until it dies. */
const SERVER = `const http = require('http'); const fs = require('fs');
http.createServer((req, res) => {
  const u = new URL(req.url, 'http://x');
  if (u.pathname === '/read') { try { res.end(fs.readFileSync(u.searchParams.get('p'), 'utf8')); } catch (e) { res.statusCode = 404; res.end(e.code); } return; }
  if (u.pathname === '/hog') { const keep = []; for (;;) keep.push(Buffer.alloc(16 << 20, 1)); }
  res.end(process.env.DYNO);
}).listen(process.env.PORT);
`;

describe('e2e: the guest contract (process driver)', function () {
  this.timeout(300_000);
  requires('guests');
  const env = useServer();
  let server: TestServer;
  const ok = (args: string[], input?: string) => {
    const r = server.cli(args, input);
    expect(r.code, `slipway ${args.join(' ')}: ${r.stdout}${r.stderr}`).to.equal(0);
    return r.stdout;
  };
  const read = (file: string) => server.get('contract', `/read?p=${encodeURIComponent(file)}`);
  let repo = '';
  let firstPush: Result;

  before(async function () {
    server = env.server;
    repo = appRepo('node-hello');
    fs.writeFileSync(path.join(repo, 'server.js'), SERVER);
    fs.writeFileSync(
      path.join(repo, 'Procfile'),
      // Rails writes tmp/pids at start; each instance appends who it is to a file in /app.
      'release: touch /app/release.test && echo release-ran\nweb: mkdir -p /app/tmp/pids && echo "$DYNO $SLIPWAY_RELEASE" >> /app/tmp/pids/x && exec node server.js\n',
    );
    fs.writeFileSync(
      path.join(repo, 'app.json'),
      JSON.stringify({
        scripts: { dokku: { predeploy: 'echo predeployed > /app/predeploy.out', postdeploy: 'echo posted > /app/postdeploy.out' } },
      }),
    );
    commitAll(repo, 'contract');
    ok(['apps:create', 'contract']);
    // Every test may run alone: v1 is deployed, on two web instances, here.
    firstPush = await push(repo, server.sshRemote('contract'), { sshCommand: env.key.sshCommand });
    expect(firstPush.code, firstPush.stderr).to.equal(0);
    ok(['ps:scale', 'contract', 'web=2']);
  });

  it('runs the release phase with a writable /app whose writes vanish', async () => {
    expect(firstPush.stderr).to.contain('release-ran');
    expect((await read('/app/release.test')).body).to.equal('ENOENT');
    expect(fs.existsSync(path.join(server.home, 'apps/contract/releases/v1/release.test'))).to.equal(false);
  });

  it('gives each instance its own /app writes, invisible to the other and to the release', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 8; i++) seen.add((await read('/app/tmp/pids/x')).body);
    expect(seen).to.deep.equal(new Set(['web.1 v1\n', 'web.2 v1\n']));
    expect(fs.existsSync(path.join(server.home, 'apps/contract/releases/v1/tmp'))).to.equal(false);
    // A one-off gets a fresh /app: neither instance's writes.
    const run = server.cli(['run', 'contract', '--', 'ls', '/app/tmp/pids/x']);
    expect(run.code).to.not.equal(0);
  });

  it('joins web.1 with `enter` (its writes are there) and keeps predeploy writes in the release for `run`', () => {
    const entered = server.cli(['enter', 'contract'], 'cat /app/tmp/pids/x; echo "uid=$(id -u)"\n');
    expect(entered.stdout).to.contain('web.1 v1').and.not.contain('web.2');
    expect(entered.stdout).to.match(/uid=7\d{4}/);
    expect(ok(['run', 'contract', '--', 'cat', '/app/predeploy.out'])).to.equal('predeployed\n');
    expect(server.cli(['run', 'contract', '--', 'cat', '/app/postdeploy.out']).code).to.not.equal(0);
  });

  it("starts a new deploy without the old instances' writes", async () => {
    fs.writeFileSync(path.join(repo, 'message.txt'), 'again\n');
    commitAll(repo, 'again');
    const r = await push(repo, server.sshRemote('contract'), { sshCommand: env.key.sshCommand });
    expect(r.code, r.stderr).to.equal(0);
    const seen = new Set<string>();
    for (let i = 0; i < 8; i++) seen.add((await read('/app/tmp/pids/x')).body);
    expect(seen).to.deep.equal(new Set(['web.1 v2\n', 'web.2 v2\n']));
  });

  it('resizes a process type, applies the limit and reports a kill by it (R15)', async () => {
    const out = ok(['ps:resize', 'contract', 'web=96M,pids=64']);
    expect(out)
      .to.match(/web\s+96M\s+1024\s+64/)
      .and.contain('Restarted 2 web instances');
    expect(ok(['ps', 'contract'])).to.match(/web\.1\s+up .*96M/);
    await server.get('contract', '/hog').catch(() => undefined);
    await eventually(
      () => server.cli(['logs', 'contract', '-n', '300']).stdout.includes('Error R15 (Memory quota vastly exceeded)'),
      'the R15 line in the log',
    );
    await eventually(
      () => /^web\.\d\s+(up|crashed|starting) \(memory\)/m.test(server.cli(['ps', 'contract']).stdout),
      'ps to report the memory kill',
    );
    // The killed instance comes back by itself.
    await eventually(async () => (await server.get('contract')).status === 200, 'web to serve again');
  });

  it('stops a fork loop at the pids limit while the server and other apps keep answering', async () => {
    ok(['ps:resize', 'contract', 'run=128M,pids=32']);
    const bomb = server.cliAsync([
      'run',
      'contract',
      '--',
      'python3',
      '-c',
      'import os, time\nn = 0\ntry:\n    while True:\n        if os.fork() == 0:\n            time.sleep(30); os._exit(0)\n        n += 1\nexcept OSError as e:\n    print("stopped after", n, "forks:", e.strerror)\n',
    ]);
    await new Promise((r) => setTimeout(r, 500));
    const api = await httpGet({ port: server.ports.http, host: '127.0.0.1', path: '/api/v1', headers: { connection: 'close' } });
    expect(api.status).to.be.below(500);
    expect((await server.get('contract')).status).to.equal(200);
    const r = await bomb;
    const m = /stopped after (\d+) forks: Resource temporarily unavailable/.exec(r.stdout);
    expect(m, r.stdout + r.stderr).to.not.equal(null);
    expect(Number(m![1])).to.be.below(32);
  });
});
