import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { appRepo, BIN, commitAll, eventually, git, httpGet, push, ssh, sshArgs, sshKey, tmpdir, TestServer, useServer } from './harness.js';

const STAMPED = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (?:web\.1|slipway\[web\.1\]): /;

/** An app that logs every request it gets, so a test can make a log line appear on demand. */
function echoRepo(): string {
  const dir = tmpdir('echo');
  fs.writeFileSync(path.join(dir, 'Procfile'), 'web: node server.js\n');
  fs.writeFileSync(
    path.join(dir, 'server.js'),
    `const http = require('http');
const server = http.createServer((req, res) => {
  console.log('request ' + req.url);
  res.end('echo');
});
server.listen(Number(process.env.PORT), () => console.log('echo listening'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`,
  );
  git(dir, ['init', '-q', '-b', 'main']);
  commitAll(dir, 'echo');
  return dir;
}

/** A long-running client (`ssh … logs -f`, `slipway logs -f`) whose output we watch. */
function follower(
  cmd: string,
  args: string[],
  env?: NodeJS.ProcessEnv,
): { proc: ChildProcess; out: () => string; exited: Promise<number | null> } {
  const proc = spawn(cmd, args, { env: env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return { proc, out: () => out, exited };
}

/** File descriptors the daemon holds open on `file`: the log writer's, plus one per follower. */
function openHandles(server: TestServer, file: string): number {
  const dir = `/proc/${server.proc!.pid}/fd`;
  return fs.readdirSync(dir).filter((fd) => {
    try {
      return fs.readlinkSync(path.join(dir, fd)) === file;
    } catch {
      return false;
    }
  }).length;
}

describe('e2e: domains and logs', function () {
  this.timeout(180_000);
  const env = useServer();
  let server: TestServer;
  let key: ReturnType<typeof sshKey>;
  beforeEach(() => ({ server, key } = env));

  describe('domains', () => {
    let repo: string;
    before(async function () {
      this.timeout(120_000);
      const { server, key } = env;
      expect(env.server.cli(['apps:create', 'dom']).code).to.equal(0);
      repo = appRepo('procfile-hello');
      const r = await push(repo, server.sshRemote('dom'), { sshCommand: key.sshCommand });
      expect(r.code, r.stderr).to.equal(0);
    });

    it('serves a custom domain at once, keeps it across a deploy, and 404s it once removed', async () => {
      const www = { port: server.ports.router, host: 'www.example.test' };
      expect((await httpGet(www)).status).to.equal(404);

      const added = server.cli(['domains:add', 'dom', 'WWW.Example.test']);
      expect(added.code, added.stderr).to.equal(0);
      expect(added.stdout).to.include('Added www.example.test to dom');
      const served = await httpGet(www);
      expect(served.status).to.equal(200);
      expect(served.body.trim()).to.equal('Hello from Slipway');
      expect((await httpGet({ ...www, host: 'www.example.test:8000' })).status).to.equal(200);

      const listed = server.cli(['domains', 'dom']).stdout;
      expect(listed).to.match(/^dom\.localhost\s+default/m);
      expect(listed).to.match(/^www\.example\.test\s+custom/m);
      expect(server.cli(['domains:add', 'dom', 'www.example.test']).code).to.equal(0);

      // A redeploy's route keeps the domain.
      fs.writeFileSync(path.join(repo, 'message.txt'), 'second\n');
      commitAll(repo, 'second');
      const again = await push(repo, server.sshRemote('dom'), { sshCommand: key.sshCommand });
      expect(again.code, again.stderr).to.equal(0);
      expect((await httpGet(www)).body.trim()).to.equal('second');

      const removed = server.cli(['domains:remove', 'dom', 'www.example.test']);
      expect(removed.code, removed.stderr).to.equal(0);
      expect((await httpGet(www)).status).to.equal(404);
      expect((await server.get('dom')).status).to.equal(200);
      expect(server.cli(['domains', 'dom']).stdout).to.not.include('www.example.test');
      const gone = server.cli(['domains:remove', 'dom', 'www.example.test']);
      expect(gone.code).to.not.equal(0);
      expect(gone.stderr).to.include('not found');
    });

    it('refuses host names that are not plain DNS names, over the CLI and SSH', async () => {
      for (const bad of ['bad_host', 'a..b', 'x.com;rm', `${'abcdefghi.'.repeat(30)}com`, 'localhost', '*.example.test', '10.1.2.3']) {
        const r = server.cli(['domains:add', 'dom', bad]);
        expect(r.code, bad).to.not.equal(0);
        expect(r.stderr, bad).to.match(/ !\s+(invalid hostname|wildcard|.* is an IP address).*\(.+\)/);
      }
      const dash = server.cli(['domains:add', 'dom', '--', '-x.com']);
      expect(dash.code).to.not.equal(0);
      expect(dash.stderr).to.include('invalid hostname "-x.com"');
      expect(server.cli(['domains:add', 'dom', '-x.com']).code).to.not.equal(0);
      const viaSsh = ssh(key.key, server.ports.ssh, ['domains:add', 'dom', 'x.com;rm']);
      expect(viaSsh.code).to.not.equal(0);
      const quoted = ssh(key.key, server.ports.ssh, ['domains:add', 'dom', "'x.com;rm'"]);
      expect(quoted.code).to.not.equal(0);
      expect(quoted.stderr).to.include('invalid hostname');
      expect(server.cli(['domains', 'dom']).stdout.trim().split('\n')).to.have.length(2);
    });

    it('gives a host name to one app; a stranger is not told which app has it', async () => {
      expect(server.cli(['apps:create', 'dom-other']).code).to.equal(0);
      expect(server.cli(['domains:add', 'dom', 'shop.example.test']).code).to.equal(0);
      const admin = server.cli(['domains:add', 'dom-other', 'shop.example.test']);
      expect(admin.code).to.not.equal(0);
      expect(admin.stderr).to.include('shop.example.test is already in use by app dom');

      expect(server.cli(['users:add', 'bob']).code).to.equal(0);
      const bob = sshKey();
      expect(server.cli(['keys:add', '--user', 'bob', bob.pub]).code).to.equal(0);
      expect(ssh(bob.key, server.ports.ssh, ['apps:create', 'bobapp']).code).to.equal(0);
      const stranger = ssh(bob.key, server.ports.ssh, ['domains:add', 'bobapp', 'shop.example.test']);
      expect(stranger.code).to.not.equal(0);
      expect(stranger.stderr).to.include('already in use by another app');
      expect(stranger.stderr).to.not.include('dom');
      const platformName = ssh(bob.key, server.ports.ssh, ['domains:add', 'bobapp', 'dom.localhost']);
      expect(platformName.code).to.not.equal(0);
      expect(platformName.stderr).to.include('dom.localhost is already in use by another app');
      expect(ssh(bob.key, server.ports.ssh, ['domains', 'dom']).stderr).to.include('does not exist, or you have no access');
      expect(ssh(bob.key, server.ports.ssh, ['domains:add', 'bobapp', 'bob.example.test']).code).to.equal(0);
      // The name serves dom, whichever release it is on.
      expect((await httpGet({ port: server.ports.router, host: 'shop.example.test' })).body).to.equal((await server.get('dom')).body);
    });
  });

  describe('logs', () => {
    let logFile: string;
    before(async function () {
      this.timeout(120_000);
      expect(env.server.cli(['apps:create', 'echo']).code).to.equal(0);
      const r = await push(echoRepo(), env.server.sshRemote('echo'), { sshCommand: env.key.sshCommand });
      expect(r.code, r.stderr).to.equal(0);
      logFile = path.join(env.server.home, 'apps', 'echo', 'logs', 'app.log');
    });

    it('prints the last lines, timestamped and tagged with the instance; --ps and -n filter', async () => {
      await eventually(() => server.cli(['logs', 'echo']).stdout.includes('State changed from starting to up'), 'web.1 up in the log');
      const r = server.cli(['logs', 'echo', '-n', '5']);
      expect(r.code, r.stderr).to.equal(0);
      const lines = r.stdout.trimEnd().split('\n');
      expect(lines.length).to.be.within(3, 5);
      for (const line of lines) expect(line).to.match(STAMPED);
      expect(r.stdout).to.match(/Z web\.1: echo listening$/m);
      expect(r.stdout).to.match(/Z slipway\[web\.1\]: Starting process with command `node server.js`$/m);

      expect(server.cli(['logs', 'echo', '-n', '2']).stdout.trimEnd().split('\n')).to.have.length(2);
      const web1 = server.cli(['logs', 'echo', '--ps', 'web.1']).stdout;
      expect(web1).to.include('echo listening');
      expect(server.cli(['logs', 'echo', '--ps', 'web']).stdout).to.equal(web1);
      const worker = server.cli(['logs', 'echo', '--ps', 'worker']);
      expect(worker.code).to.equal(0);
      expect(worker.stdout).to.equal('');
      expect(server.cli(['logs', 'echo', '--ps', 'web;1']).stderr).to.include('invalid --ps');
      expect(server.cli(['logs', 'echo', '-n', 'lots']).stderr).to.include('--num must be a number');
      const viaSsh = ssh(key.key, server.ports.ssh, ['logs', 'echo', '-n', '3']);
      expect(viaSsh.code, viaSsh.stderr).to.equal(0);
      expect(viaSsh.stdout.trimEnd().split('\n')).to.have.length(3);
    });

    it('follows over SSH until the client goes away, and a second follow works', async () => {
      for (const marker of ['/first-marker', '/second-marker']) {
        const f = follower('ssh', [...sshArgs(key.key, server.ports.ssh), 'logs', 'echo', '-f', '-n', '1']);
        await eventually(() => f.out().length > 0, 'the tail before the follow');
        await eventually(() => openHandles(server, logFile) >= 2, 'the follower to open the log');
        expect((await server.get('echo', marker)).status).to.equal(200);
        await eventually(() => f.out().includes(`web.1: request ${marker}`), `${marker} on the follow stream`, 15_000);
        expect(f.out()).to.match(new RegExp(`^\\S+Z web\\.1: request ${marker}$`, 'm'));
        f.proc.kill('SIGKILL');
        await f.exited;
        // The daemon's follower ends and lets go of the file: only the writer's handle is left.
        await eventually(() => openHandles(server, logFile) === 1, 'the follower to close the log', 10_000);
      }
    });

    it('follows over the host CLI (control socket) until the CLI is killed', async () => {
      const f = follower(BIN, ['logs', 'echo', '-f', '-n', '1', '--ps', 'web.1'], server.env);
      await eventually(() => f.out().length > 0, 'the tail before the follow');
      await eventually(() => openHandles(server, logFile) >= 2, 'the follower to open the log');
      await server.get('echo', '/cli-marker');
      await eventually(() => f.out().includes('web.1: request /cli-marker'), '/cli-marker on the follow stream', 15_000);
      f.proc.kill('SIGTERM');
      await f.exited;
      await eventually(() => openHandles(server, logFile) === 1, 'the follower to close the log', 10_000);
      // The daemon is still fine afterwards.
      expect(server.cli(['logs', 'echo', '-n', '1']).stdout).to.include('request /cli-marker');
    });

    it('does not keep the server from stopping while follows are open', async () => {
      const viaCli = follower(BIN, ['logs', 'echo', '-f', '-n', '1'], server.env);
      const viaSsh = follower('ssh', [...sshArgs(key.key, server.ports.ssh), 'logs', 'echo', '-f', '-n', '1']);
      await eventually(() => viaCli.out().length > 0 && viaSsh.out().length > 0, 'both follows to start');
      await server.stop();
      expect(await viaCli.exited).to.equal(0);
      await viaSsh.exited;
      await server.boot();
      await eventually(async () => (await server.get('echo')).status === 200, 'echo back up after the restart');
    });
  });
});
