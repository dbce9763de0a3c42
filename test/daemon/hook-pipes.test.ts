import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { RefUpdate } from '../../src/daemon/control.js';
import { hangUpLeftoverPipes, openHookPipes } from '../../src/daemon/hook-pipes.js';
import { HOOKS_DIR } from '../../src/paths.js';

const HOOK = path.join(HOOKS_DIR, 'post-receive-piped');
const A = 'a'.repeat(40);
const B = 'b'.repeat(40);

/** Runs the real hook as git would: ref lines on stdin, `$SLIPWAY_PUSH_PIPES` from the push's env. */
function runHook(pipes: string | undefined, input: string): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(HOOK, [], { env: { PATH: process.env.PATH, ...(pipes ? { SLIPWAY_PUSH_PIPES: pipes } : {}) } });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  child.stdin.on('error', () => undefined); // a hook that refuses reads none of it
  child.stdin.end(input);
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr })));
}

/** The spare pair made behind a push, once both its FIFOs are there. */
async function spareMade(parent: string): Promise<string> {
  for (let i = 0; i < 250; i++) {
    const name = fs.readdirSync(parent).find((n) => n.startsWith('spare-'));
    if (name && fs.existsSync(path.join(parent, name, 'log'))) return path.join(parent, name);
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no spare FIFOs were made in ${parent}`);
}

describe('daemon/hook-pipes: the piped post-receive', function () {
  this.timeout(20_000);
  let parent: string;
  beforeEach(() => (parent = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-pipes-'))));
  // maxRetries: the next push's FIFOs may still be being made in it.
  afterEach(() => fs.rmSync(parent, { recursive: true, force: true, maxRetries: 5 }));

  it("hands git's ref lines to the daemon and relays its output until the deploy ends", async () => {
    let got: RefUpdate[] = [];
    let release!: () => void;
    const deployed = new Promise<void>((r) => (release = r));
    const pipes = await openHookPipes(path.join(parent, 'p1'), async (refs, io) => {
      got = refs;
      io.stdout.write('-----> Building\n');
      await deployed;
      io.stderr.write('-----> Done\n');
      return 0;
    });
    expect((fs.statSync(pipes.dir).mode & 0o777).toString(8)).to.equal('700');
    const hook = runHook(pipes.dir, `${A} ${B} refs/heads/main\n${'0'.repeat(40)} ${B} refs/heads/feature\n`);
    // The hook is still relaying: it ends only with the deploy.
    const early = await Promise.race([hook.then(() => 'ended'), new Promise((r) => setTimeout(() => r('running'), 300))]);
    expect(early).to.equal('running');
    release();
    const { code, stderr } = await hook;
    expect(code).to.equal(0);
    expect(stderr).to.equal('-----> Building\n-----> Done\n');
    expect(got).to.deep.equal([
      { oldrev: A, newrev: B, ref: 'refs/heads/main' },
      { oldrev: '0'.repeat(40), newrev: B, ref: 'refs/heads/feature' },
    ]);
    pipes.close();
    expect(fs.existsSync(pipes.dir)).to.equal(false);
  });

  it("makes the next push's FIFOs ahead: a later push takes them, as private and as working as its own", async () => {
    (await openHookPipes(path.join(parent, 'first'), async () => 0)).close();
    const made = fs.statSync(path.join(await spareMade(parent), 'refs'));
    let got: RefUpdate[] = [];
    const pipes = await openHookPipes(path.join(parent, 'second'), async (refs, io) => {
      got = refs;
      io.stdout.write('-----> Deployed\n');
      return 0;
    });
    // The same FIFO, moved: not made on this push's way.
    expect(fs.statSync(path.join(pipes.dir, 'refs')).ino).to.equal(made.ino);
    expect((fs.statSync(pipes.dir).mode & 0o777).toString(8)).to.equal('700');
    for (const f of ['refs', 'log']) {
      const st = fs.statSync(path.join(pipes.dir, f));
      expect(st.isFIFO()).to.equal(true);
      expect((st.mode & 0o777).toString(8)).to.equal('600');
    }
    const { code, stderr } = await runHook(pipes.dir, `${A} ${B} refs/heads/main\n`);
    expect(code).to.equal(0);
    expect(stderr).to.equal('-----> Deployed\n');
    expect(got).to.deep.equal([{ oldrev: A, newrev: B, ref: 'refs/heads/main' }]);
    pipes.close();
  });

  it('a spare pair a killed daemon left is removed at the next start', async () => {
    (await openHookPipes(path.join(parent, 'first'), async () => 0)).close();
    await spareMade(parent);
    expect(fs.readdirSync(parent)).to.have.length(1);
    expect(hangUpLeftoverPipes(parent)).to.equal(0);
    expect(fs.readdirSync(parent)).to.deep.equal([]);
  });

  it("shows an answer the daemon gave and closed before the hook's relay started", async () => {
    // Under load the hook's last `cat` can start after the daemon answered (a push that deploys
    // nothing) and closed its end of `log`: this `cat` takes a while to start, every time.
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-slow-cat-'));
    fs.writeFileSync(path.join(bin, 'cat'), '#!/bin/sh\nsleep 0.3\nexec /bin/cat "$@"\n', { mode: 0o755 });
    try {
      const pipes = await openHookPipes(path.join(parent, 'p3'), async (_refs, io) => {
        io.stdout.write('-----> Stored feature; only pushes to main deploy\n');
        return 0;
      });
      const child = spawn(HOOK, [], { env: { PATH: `${bin}:${process.env.PATH}`, SLIPWAY_PUSH_PIPES: pipes.dir } });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      child.stdin.end(`${A} ${B} refs/heads/feature\n`);
      const code = await new Promise((r) => child.on('close', r));
      expect(code).to.equal(0);
      expect(stderr).to.equal('-----> Stored feature; only pushes to main deploy\n');
      pipes.close();
    } finally {
      fs.rmSync(bin, { recursive: true, force: true });
    }
  });

  it('a pusher that went away ends the relay only: the deploy runs on and writes without failing', async () => {
    let io!: Parameters<Parameters<typeof openHookPipes>[1]>[1];
    let finish!: (code: number) => void;
    let started!: () => void;
    const served = new Promise<void>((r) => (started = r));
    const pipes = await openHookPipes(path.join(parent, 'p2'), (_refs, given) => {
      io = given;
      started();
      return new Promise<number>((r) => (finish = r));
    });
    const child = spawn(HOOK, [], { env: { PATH: process.env.PATH, SLIPWAY_PUSH_PIPES: pipes.dir } });
    child.stdin.on('error', () => undefined);
    child.stdin.end(`${A} ${B} refs/heads/main\n`);
    await served;
    child.kill('SIGKILL'); // the hook is `cat` by now (exec), as git's client going away kills it
    await new Promise((r) => child.once('close', r));
    // More than a FIFO holds, with nobody reading: the writes wait, nothing throws.
    for (let i = 0; i < 200; i++) io.stdout.write(`${'x'.repeat(1000)}\n`);
    expect(io.signal.aborted).to.equal(false);
    pipes.close(); // receive-pack exited
    expect(io.signal.aborted).to.equal(true);
    finish(0);
    expect(fs.existsSync(path.join(parent, 'p2'))).to.equal(false);
  });

  it('deploys nothing from a list the hook did not finish (no closing `.`), and says so', async () => {
    let served = false;
    const pipes = await openHookPipes(path.join(parent, 'p4'), async () => {
      served = true;
      return 0;
    });
    // `log` held open first, as the hook does, so the answer cannot be dropped before it is read.
    const reader = new net.Socket({ fd: fs.openSync(path.join(pipes.dir, 'log'), fs.constants.O_RDONLY | fs.constants.O_NONBLOCK) });
    let said = '';
    reader.on('data', (d) => (said += d));
    const ended = new Promise((r) => reader.on('end', r));
    // What a hook killed in the middle of its list leaves: lines, the last one cut short, and no `.`.
    fs.writeFileSync(path.join(pipes.dir, 'refs'), `${A} ${B} refs/heads/main-x\n${A} ${B} refs/heads/ma`);
    await ended;
    reader.destroy();
    expect(served).to.equal(false);
    expect(said).to.equal(' !     The hook ended before it sent every ref; nothing was deployed.\n');
    pipes.close();
  });

  it('reads a list past its limit to the end, so the hook never waits on a full FIFO, and refuses it', async () => {
    let served = false;
    const pipes = await openHookPipes(path.join(parent, 'p5'), async () => {
      served = true;
      return 0;
    });
    const line = `${A} ${B} refs/tags/${'t'.repeat(900)}\n`;
    const { code, stderr } = await runHook(pipes.dir, line.repeat(Math.ceil((65 * 1024 * 1024) / line.length)));
    expect(code).to.equal(0);
    expect(served).to.equal(false);
    expect(stderr).to.match(/more refs than Slipway reads in one push/);
    pipes.close();
  });

  it('a hook a crashed daemon left writing a long list is read to its end at the next start, and exits', async () => {
    const dir = path.join(parent, 'full');
    fs.mkdirSync(dir, { mode: 0o700 });
    expect(spawnSync('mkfifo', ['-m', '600', path.join(dir, 'refs'), path.join(dir, 'log')]).status).to.equal(0);
    // The daemon held `log` as it does, then died with the hook's list half read (here: not at all).
    const daemonEnd = fs.openSync(path.join(dir, 'log'), fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    const hook = runHook(dir, `${A} ${B} refs/heads/main\n`.repeat(3000)); // ~250 KB, more than a FIFO holds
    await new Promise((r) => setTimeout(r, 300));
    fs.closeSync(daemonEnd);
    const stuck = await Promise.race([hook.then(() => 'ended'), new Promise((r) => setTimeout(() => r('stuck'), 300))]);
    expect(stuck).to.equal('stuck');
    expect(hangUpLeftoverPipes(parent)).to.equal(1);
    expect((await hook).code).to.equal(0);
    expect(fs.readdirSync(parent)).to.deep.equal([]);
  });

  it('refuses to run outside a Slipway push, saying how to push', async () => {
    const { code, stderr } = await runHook(undefined, `${A} ${B} refs/heads/main\n`);
    expect(code).to.equal(1);
    expect(stderr).to.match(/Push through Slipway/);
    const other = await runHook(parent, `${A} ${B} refs/heads/main\n`);
    expect(other.code).to.equal(1);
  });

  it('a hook a crashed daemon left waiting is ended at the next start, and its FIFOs removed', async () => {
    // What a daemon killed between openHookPipes and the hook's start leaves: the FIFOs, nobody holding them.
    const dir = path.join(parent, 'left');
    fs.mkdirSync(dir, { mode: 0o700 });
    expect(spawnSync('mkfifo', ['-m', '600', path.join(dir, 'refs'), path.join(dir, 'log')]).status).to.equal(0);
    const hook = runHook(dir, `${A} ${B} refs/heads/main\n`);
    // It waits to open `log`, which no daemon holds.
    const waiting = await Promise.race([hook.then(() => 'ended'), new Promise((r) => setTimeout(() => r('waiting'), 300))]);
    expect(waiting).to.equal('waiting');
    expect(hangUpLeftoverPipes(parent)).to.equal(1);
    // It exits (its FIFOs may be gone by the time it looks for `refs`: then with an error of sh's).
    expect((await hook).code).to.be.a('number');
    expect(fs.readdirSync(parent)).to.deep.equal([]);
    expect(hangUpLeftoverPipes(path.join(parent, 'missing'))).to.equal(0);
  });
});
