import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Client, type ClientChannel } from 'ssh2';
import { appRepo, commitAll, eventually, push, ssh, sshArgs, sshKey, tmpdir, TestServer, useServer, type Result } from './harness.js';
import { alive } from '../support/proc.js';
import { requires } from '../support/requires.js';

/** `ssh -tt`: a terminal even though our stdin is a pipe. */
function sshTty(key: string, port: number, command: string, input: string): Result {
  const r = spawnSync('ssh', ['-tt', ...sshArgs(key, port), command], { input, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** An ssh2 client session with a pty, so the test can change the window size as a terminal would. */
async function ptySession(server: TestServer, keyFile: string, command: string, size: { rows: number; cols: number }) {
  const client = new Client();
  await new Promise<void>((resolve, reject) => {
    client.once('ready', () => resolve());
    client.once('error', reject);
    client.connect({ host: '127.0.0.1', port: server.ports.ssh, username: 'slipway', privateKey: fs.readFileSync(keyFile) });
  });
  const stream = await new Promise<ClientChannel>((resolve, reject) =>
    client.exec(command, { pty: { ...size, width: 0, height: 0, term: 'xterm' } }, (err, s) => (err ? reject(err) : resolve(s))),
  );
  let output = '';
  stream.on('data', (d: Buffer) => (output += d.toString()));
  stream.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exit = new Promise<number>((resolve) => stream.once('exit', (code: number) => resolve(code)));
  return { client, stream, exit, output: () => output };
}

describe('e2e: run and enter over SSH', function () {
  this.timeout(180_000);
  requires('guests');
  const env = useServer();
  let server: TestServer;
  let key: ReturnType<typeof sshKey>;
  let releaseDir: string;
  const APP = 'runapp';
  const run = (command: string, input?: string) => ssh(key.key, server.ports.ssh, [command], input);

  before(async function () {
    ({ server, key } = env);
    expect(server.cli(['apps:create', APP]).code).to.equal(0);
    const repo = appRepo('procfile-hello');
    // Stands in for a config var until config:set exists: the release sources it like a buildpack's profile script.
    fs.mkdirSync(path.join(repo, '.profile.d'));
    fs.writeFileSync(path.join(repo, '.profile.d', 'test.sh'), 'export GREETING=hi\n');
    commitAll(repo, 'greeting');
    const pushed = await push(repo, server.sshRemote(APP), { sshCommand: key.sshCommand });
    expect(pushed.code, pushed.stderr).to.equal(0);
    // The guest contract: the release is /app inside, whatever its host path.
    releaseDir = '/app';
  });

  it('returns the exit code of the command', () => {
    const r = run(`run ${APP} -- sh -c 'exit 3'`);
    expect(r.code, r.stderr).to.equal(3);
    expect(run(`run ${APP} -- true`).code).to.equal(0);
  });

  it("runs with the app's environment, in its release directory", () => {
    const greeting = run(`run ${APP} -- printenv GREETING`);
    expect(greeting.code, greeting.stderr).to.equal(0);
    expect(greeting.stdout).to.equal('hi\n');
    const pwd = run(`run ${APP} -- pwd`);
    expect(pwd.stdout.trim()).to.equal(releaseDir);
    const vars = run(`run ${APP} -- sh -c 'echo $HOME $DYNO $SLIPWAY_APP $SLIPWAY_RELEASE'`);
    expect(vars.stdout.trim()).to.match(new RegExp(`^${releaseDir} run\\.\\d+ ${APP} v1$`));
  });

  it('passes arguments as they are, without a second round of shell parsing', () => {
    const r = run(`run ${APP} -- printf '%s|' 'a b' '$HOME' ';' "*"`);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.equal('a b|$HOME|;|*|');
    // The command's own options are the command's, with or without `--`.
    expect(run(`run ${APP} ls -a`).stdout.split('\n')).to.include('.profile.d');
  });

  it('streams stdin to the command and stdout/stderr back apart', () => {
    const r = run(`run ${APP} -- sh -c 'tr a-z A-Z; echo oops >&2'`, 'hello\n');
    expect(r.code).to.equal(0);
    expect(r.stdout).to.equal('HELLO\n');
    expect(r.stderr).to.equal('oops\n');
  });

  it('reports death by signal as 128+N', () => {
    expect(run(`run ${APP} -- sh -c 'kill -KILL $$'`).code).to.equal(137);
  });

  it('refuses shell syntax in the SSH command before anything runs', () => {
    const marker = path.join(tmpdir('marker'), 'x');
    const r = run(`run ${APP} -- ls; touch ${marker}`);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include('refusing shell syntax');
    expect(fs.existsSync(marker)).to.equal(false);
  });

  it("answers for another user's app exactly as for a missing app", () => {
    expect(server.cli(['users:add', 'mallory']).code).to.equal(0);
    const other = sshKey();
    expect(server.cli(['keys:add', '--user', 'mallory', other.pub]).code).to.equal(0);
    const marker = path.join(tmpdir('marker'), 'y');
    const theirs = ssh(other.key, server.ports.ssh, [`run ${APP} -- touch ${marker}`]);
    const missing = ssh(other.key, server.ports.ssh, [`run nosuchapp -- touch ${marker}`]);
    expect(theirs.code).to.equal(1);
    expect(theirs.stderr).to.include('does not exist, or you have no access');
    expect(theirs.stderr.replaceAll(APP, 'X')).to.equal(missing.stderr.replaceAll('nosuchapp', 'X'));
    expect(fs.existsSync(marker)).to.equal(false);
  });

  it('says what to do for an app without a release, and for a missing command', () => {
    expect(server.cli(['apps:create', 'emptyapp']).code).to.equal(0);
    const r = run('run emptyapp -- true');
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include('emptyapp has no live release yet').and.include('git push');
    const none = run(`run ${APP}`);
    expect(none.code).to.equal(1);
    expect(none.stderr).to.include('no command given');
  });

  it('enter opens an interactive shell on a terminal in the release directory', () => {
    const r = sshTty(key.key, server.ports.ssh, `enter ${APP}`, 'pwd; echo $GREETING; tty; echo "user=$(whoami)"; exit 7\n');
    expect(r.code, r.stdout + r.stderr).to.equal(7);
    // A user with a name, as on a dyno: not bash's "I have no name!".
    expect(r.stdout)
      .to.match(/^user=app\r?$/m)
      .and.not.include('I have no name');
    expect(r.stdout).to.match(new RegExp(`^${releaseDir}\\r?$`, 'm'));
    expect(r.stdout).to.match(/^hi\r?$/m);
    expect(r.stdout).to.match(/^\/dev\/pts\/\d+\r?$/m);
    // A script without `exit` ends too: the end of input is typed as ^D.
    const script = sshTty(key.key, server.ports.ssh, `enter ${APP}`, 'echo done-$GREETING\n');
    expect(script.code, script.stdout + script.stderr).to.equal(0);
    expect(script.stdout).to.match(/^done-hi\r?$/m);
  });

  it('enter names an instance, and lists the running ones for an unknown name', () => {
    const r = sshTty(key.key, server.ports.ssh, `enter ${APP} web.1`, 'echo in-$DYNO; exit 0\n');
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^in-run\.\d+\r?$/m);
    const unknown = run(`enter ${APP} worker.3`);
    expect(unknown.code).to.equal(1);
    expect(unknown.stderr).to.include(`${APP} has no running instance "worker.3"`).and.include('running: web.1');
  });

  it('enter without a terminal reads commands from stdin and says how to get one', () => {
    const r = run(`enter ${APP}`, 'echo $GREETING; exit 4\n');
    expect(r.code).to.equal(4);
    expect(r.stdout).to.equal('hi\n');
    expect(r.stderr).to.include('ssh -t');
  });

  it('run with a terminal (ssh -t) gets one too', () => {
    const r = sshTty(key.key, server.ports.ssh, `run ${APP} -- sh -c 'tty; exit 5'`, '');
    expect(r.code, r.stdout + r.stderr).to.equal(5);
    expect(r.stdout).to.match(/^\/dev\/pts\/\d+\r?$/m);
  });

  it("follows the client's window size", async () => {
    const session = await ptySession(server, key.key, `enter ${APP}`, { rows: 40, cols: 100 });
    try {
      session.stream.write('stty size\n');
      await eventually(() => /^40 100\r?$/m.test(session.output()), 'the initial size 40x100', 10_000);
      session.stream.setWindow(50, 120, 0, 0);
      // The resize and the keystrokes travel apart; ask until the new size shows.
      await eventually(
        () => {
          session.stream.write('stty size\n');
          return /^50 120\r?$/m.test(session.output());
        },
        'the new size 50x120',
        10_000,
      );
      session.stream.write('exit 6\n');
      expect(await session.exit).to.equal(6);
    } finally {
      session.client.end();
    }
  });

  it('stops the command when the client goes away', async () => {
    // Its pid inside the guest means nothing on the host: find it by a sleep no other test runs.
    const secs = String(300 + Math.floor(Math.random() * 600));
    const client = spawn('ssh', [...sshArgs(key.key, server.ports.ssh), `run ${APP} -- sh -c 'echo started; exec sleep ${secs}'`], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    client.stdout.on('data', (d) => (out += d));
    await eventually(() => out.includes('started') && hostPid(`sleep\0${secs}\0`) !== undefined, 'the one-off process to start');
    const pid = hostPid(`sleep\0${secs}\0`)!;
    expect(alive(pid)).to.equal(true);
    client.kill('SIGKILL');
    await eventually(() => !alive(pid), 'the one-off process to be stopped', 20_000);
  });
});

/** The host pid of the process whose command line is exactly `cmdline` (NUL-separated). */
function hostPid(cmdline: string): number | undefined {
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8') === cmdline) return Number(entry);
    } catch {
      /* gone */
    }
  }
  return undefined;
}
