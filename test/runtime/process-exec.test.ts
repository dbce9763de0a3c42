import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { ProcessDriver } from '../../src/runtime/process/index.js';
import type { ExecRequest } from '../../src/runtime/driver.js';
import { SlipwayError } from '../../src/errors.js';
import { alive } from '../support/proc.js';
import { until } from '../support/wait.js';

/** Collects what a process writes. */
class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

describe('ProcessDriver.exec', function () {
  this.timeout(30_000);
  let tmp: string;
  let releaseDir: string;
  let driver: ProcessDriver;

  /** A request with its own streams; stdin is ended unless `input` is null (left open). */
  const request = (over: Partial<ExecRequest> = {}, input: string | null = '') => {
    const stdin = new PassThrough();
    const stdout = new Sink();
    const stderr = new Sink();
    if (input !== null) stdin.end(input);
    const req: ExecRequest = {
      app: 'demo',
      release: 4,
      releaseDir,
      dataDir: path.join(tmp, 'data'),
      env: { CUSTOM: 'from-config' },
      argv: ['true'],
      stdin,
      stdout,
      stderr,
      ...over,
    };
    return { req, stdin, stdout, stderr };
  };

  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-exec-'));
    releaseDir = path.join(tmp, 'release');
    fs.mkdirSync(path.join(releaseDir, '.profile.d'), { recursive: true });
    fs.writeFileSync(path.join(releaseDir, '.profile.d', 'greet.sh'), 'export GREETING=hi\nPLAIN=plain\n');
    process.env.SLIPWAY_TEST_DAEMON_SECRET = 'must-not-leak';
    driver = new ProcessDriver({ execGraceMs: 1000 });
  });

  after(() => {
    delete process.env.SLIPWAY_TEST_DAEMON_SECRET;
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  describe('without a terminal', () => {
    it('resolves with the exit code', async () => {
      expect(await driver.exec(request({ argv: ['sh', '-c', 'exit 3'] }).req)).to.equal(3);
      expect(await driver.exec(request({ argv: ['true'] }).req)).to.equal(0);
    });

    it("runs with the app's clean environment, .profile.d sourced, in the release directory", async () => {
      const { req, stdout } = request({
        argv: ['sh', '-c', 'echo "$GREETING|$PLAIN|$CUSTOM|$HOME|$DYNO|$SLIPWAY_APP|$SLIPWAY_RELEASE|$SLIPWAY_TEST_DAEMON_SECRET|$(pwd)"'],
      });
      expect(await driver.exec(req)).to.equal(0);
      const [greeting, plain, custom, home, dyno, app, release, leaked, cwd] = stdout.text.trim().split('|');
      expect({ greeting, plain, custom, home, app, release, leaked, cwd }).to.deep.equal({
        greeting: 'hi',
        plain: 'plain',
        custom: 'from-config',
        home: releaseDir,
        app: 'demo',
        release: 'v4',
        leaked: '',
        cwd: releaseDir,
      });
      expect(dyno).to.match(/^run\.\d+$/);
    });

    it('numbers one-off processes run.1, run.2 …', async () => {
      const fresh = new ProcessDriver();
      const dynos: string[] = [];
      for (let i = 0; i < 2; i++) {
        const { req, stdout } = request({ argv: ['printenv', 'DYNO'] });
        await fresh.exec(req);
        dynos.push(stdout.text.trim());
      }
      expect(dynos).to.deep.equal(['run.1', 'run.2']);
    });

    it('passes argv word for word: nothing is parsed by a shell again', async () => {
      const { req, stdout } = request({ argv: ['printf', '%s|', 'a b', '$HOME', ';', '*', '$(id)', '-n'] });
      expect(await driver.exec(req)).to.equal(0);
      expect(stdout.text).to.equal('a b|$HOME|;|*|$(id)|-n|');
      // A program whose name starts with a dash is a name, not an option of bash's exec.
      const dash = request({ argv: ['-x'] });
      expect(await driver.exec(dash.req)).to.equal(127);
    });

    it('streams stdin in and keeps stdout and stderr apart', async () => {
      const { req, stdout, stderr } = request({ argv: ['sh', '-c', 'tr a-z A-Z; echo oops >&2'] }, 'hello\n');
      expect(await driver.exec(req)).to.equal(0);
      expect(stdout.text).to.equal('HELLO\n');
      expect(stderr.text).to.equal('oops\n');
    });

    it('does not fail when the command ignores its input', async () => {
      const { req } = request({ argv: ['true'] }, 'x'.repeat(1 << 20));
      expect(await driver.exec(req)).to.equal(0);
    });

    it('reports death by signal N as 128+N', async () => {
      expect(await driver.exec(request({ argv: ['sh', '-c', 'kill -TERM $$'] }).req)).to.equal(143);
    });

    it('kills what the command left running once it exits, as a one-off dyno ends', async () => {
      const { req, stdout } = request({ argv: ['sh', '-c', 'sleep 300 & echo $!'] });
      expect(await driver.exec(req)).to.equal(0);
      const pid = Number(stdout.text.trim());
      await until('the leftover to be killed', () => !alive(pid));
    });

    it('stops the whole process group on abort', async () => {
      const abort = new AbortController();
      const { req, stdout } = request({ argv: ['sh', '-c', 'sleep 300 & echo $!; wait'], signal: abort.signal }, null);
      const done = driver.exec(req);
      await until('the child pid', () => /\d+\n/.test(stdout.text));
      const child = Number(stdout.text.trim());
      abort.abort();
      expect(await done).to.equal(143);
      await until('the forked child to be gone', () => !alive(child));
    });

    it('ends running one-off processes on shutdown: they would outlive the daemon', async () => {
      const own = new ProcessDriver({ execGraceMs: 1000 });
      const { req, stdout } = request({ argv: ['sh', '-c', 'echo $$; exec sleep 300'] }, null);
      const done = own.exec(req);
      await until('the pid', () => /\d+\n/.test(stdout.text));
      await own.shutdown({ graceMs: 1000 });
      expect(await done).to.equal(143);
      expect(alive(Number(stdout.text.trim()))).to.equal(false);
    });

    it('says so when the release directory is missing, and refuses an empty command', async () => {
      const missing = driver.exec(request({ releaseDir: path.join(tmp, 'nope') }).req);
      const err = await missing.catch((e: unknown) => e);
      expect(err).to.be.instanceOf(SlipwayError).and.have.property('code', 'release_dir_missing');
      const empty = await driver.exec(request({ argv: [] }).req).catch((e: unknown) => e);
      expect(empty).to.be.instanceOf(SlipwayError).and.have.property('code', 'invalid');
    });
  });

  describe('with a terminal', () => {
    it('runs the command on a pty of the given size and returns its status', async () => {
      const { req, stdout } = request({ argv: ['sh', '-c', 'tty; stty size; echo "$GREETING"; exit 5'], tty: { cols: 100, rows: 40 } });
      expect(await driver.exec(req)).to.equal(5);
      expect(stdout.text).to.match(/^\/dev\/pts\/\d+\r$/m);
      expect(stdout.text).to.match(/^40 100\r$/m);
      expect(stdout.text).to.match(/^hi\r$/m);
    });

    it('follows resizes', async () => {
      let resize: ((cols: number, rows: number) => void) | undefined;
      const { req, stdin, stdout } = request(
        {
          argv: ['bash', '--norc', '--noprofile', '-i'],
          tty: { cols: 80, rows: 24 },
          onResize: (listener) => {
            resize = listener;
            listener(80, 24); // told the current size at once, as the SSH entrance does
          },
        },
        null,
      );
      const done = driver.exec(req);
      stdin.write('stty size\n');
      await until('the first size', () => /^24 80\r$/m.test(stdout.text));
      resize!(132, 50);
      await until('the new size', () => {
        stdin.write('stty size\n');
        return /^50 132\r$/m.test(stdout.text);
      });
      stdin.write('exit 9\n');
      expect(await done).to.equal(9);
    });

    it("types ^D when the client's input ends, so a shell fed a script exits", async () => {
      // Ten times: a ^D typed the moment readline has read the line lands after
      // bash left non-canonical mode, and one run in three hung that way.
      for (let i = 0; i < 10; i++) {
        const { req, stdout } = request(
          { argv: ['bash', '--norc', '--noprofile', '-i'], tty: { cols: 80, rows: 24 } },
          'echo one; echo two\n',
        );
        expect(await driver.exec(req), stdout.text).to.equal(0);
        expect(stdout.text).to.match(/^two\r$/m);
      }
      const cat = request({ argv: ['cat'], tty: { cols: 80, rows: 24 } }, 'line\n');
      expect(await driver.exec(cat.req)).to.equal(0);
    });

    it('types ^D again while the line editor still waits, as a user would', async () => {
      // IGNOREEOF=1: bash takes the first ^D as a slip of the finger and says so.
      const { req, stdout } = request(
        { argv: ['bash', '--norc', '--noprofile', '-i'], tty: { cols: 80, rows: 24 } },
        'IGNOREEOF=1; echo set\n',
      );
      expect(await driver.exec(req), stdout.text).to.equal(0);
      expect(stdout.text).to.include('Use "exit" to leave the shell.');
    });

    it('types ^D also while a job in the background never lets the output rest', async () => {
      const { req, stdout } = request(
        { argv: ['bash', '--norc', '--noprofile', '-i'], tty: { cols: 80, rows: 24 } },
        // Five seconds of ticks: a job that outlives the shell must not outlive the test.
        '(for i in $(seq 100); do echo tick; sleep 0.05; done) &\necho started\n',
      );
      expect(await driver.exec(req), stdout.text).to.equal(0);
      expect(stdout.text)
        .to.match(/^started\r$/m)
        .and.match(/^tick\r$/m);
    });

    it('hangs the terminal up on abort', async () => {
      const abort = new AbortController();
      const { req, stdout } = request(
        { argv: ['sh', '-c', 'echo $$; exec sleep 300'], tty: { cols: 80, rows: 24 }, signal: abort.signal },
        null,
      );
      const done = driver.exec(req);
      await until('the pid', () => /\d+\r\n/.test(stdout.text));
      const pid = Number(stdout.text.trim());
      abort.abort();
      expect(await done).to.equal(129);
      expect(alive(pid)).to.equal(false);
    });

    it('reports a program that cannot be started as 127', async () => {
      const { req, stdout } = request({ argv: ['no-such-program-here'], tty: { cols: 80, rows: 24 } });
      expect(await driver.exec(req)).to.equal(127);
      expect(stdout.text).to.include('no-such-program-here');
    });
  });
});
