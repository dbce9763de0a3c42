import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AgentFrames, BUILD_AGENT, BuildAgent } from '../../src/builder/build-agent.js';
import { runStreaming, type StreamingResult } from '../../src/builder/run-streaming.js';
import { GuestHost } from '../../src/guest/host.js';
import { requires } from '../support/requires.js';

/**
 * A host build's steps run in its one guest through the build agent
 * (src/guest/build-agent.c): each as the app's user, with its own output,
 * exit status, working directory and environment, as if the daemon had
 * spawned it there. The agent speaks for the guest, so a build step must
 * not be able to speak for the agent.
 */
describe('build agent: the steps of a host build, run in its one guest', function () {
  requires('guests');
  this.timeout(60_000);
  const USER = { uid: 65534, gid: 65534 };
  let home: string;
  let work: string;
  let host: GuestHost;
  let agent: BuildAgent;
  let log: string[];

  beforeEach(async () => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-agent-'));
    work = path.join(home, 'work');
    fs.mkdirSync(work);
    fs.chownSync(work, USER.uid, USER.gid);
    host = await GuestHost.create({ home });
    log = [];
    agent = BuildAgent.start(host, {
      guest: {
        name: 'agent-test',
        user: USER,
        limits: { memoryMb: 256, cpuShares: 1024, pids: 64 },
        binds: [{ path: work, writable: true }],
        env: {},
      },
      log: (l) => log.push(l),
    });
  });
  afterEach(async () => {
    await agent.close();
    fs.rmSync(home, { recursive: true, force: true });
  });

  const step = (
    command: string,
    args: string[],
    opts: { env?: Record<string, string>; capture?: boolean; cwd?: string; signal?: AbortSignal } = {},
  ) => {
    const lines: string[] = [];
    return runStreaming({
      command,
      args,
      cwd: opts.cwd ?? work,
      env: opts.env ?? { PATH: '/usr/bin:/bin' },
      onLine: (l) => lines.push(l),
      captureStdout: opts.capture,
      signal: opts.signal,
      sandbox: agent,
    }).then((r) => ({ ...r, lines }));
  };

  it('is built with the package on this machine', () => {
    expect(fs.existsSync(BUILD_AGENT), `${BUILD_AGENT} (npm run build builds it)`).to.equal(true);
  });

  it("runs steps one after the other as the app's user, in their directory and environment, with their output and status", async () => {
    const first = await step('sh', ['-c', 'id -u; id -g; pwd; echo "v=$V"; echo to-stderr >&2; cat; exit 7'], {
      env: { PATH: '/usr/bin:/bin', V: 'one two' },
    });
    expect(first.exitCode, first.lines.join('\n')).to.equal(7);
    expect(first.lines).to.include.members(['65534', '65534', work, 'v=one two', 'to-stderr']);
    // Later steps see what earlier ones wrote, and stdout is kept apart when asked (detect, release).
    await step('sh', ['-c', 'echo kept > out.txt']);
    const second = await step('cat', ['out.txt'], { capture: true });
    expect(second).to.include({ exitCode: 0, stdout: 'kept\n' });
    const killed = await step('sh', ['-c', 'kill -TERM $$']);
    expect(killed).to.include({ exitCode: null, exitSignal: 'SIGTERM' });
    // Large output comes through whole and in order.
    const big = await step('seq', ['1', '200000']);
    expect(big.lines.length).to.equal(200000);
    expect(big.lines.every((l, i) => l === String(i + 1))).to.equal(true);
  });

  it('reports a step that cannot start as spawn does (ENOENT, EACCES), and goes on', async () => {
    fs.writeFileSync(path.join(work, 'not-executable'), '#!/bin/sh\n', { mode: 0o644 });
    const missing = await step('/nonexistent/bin/compile', []).catch((e: NodeJS.ErrnoException) => e);
    expect((missing as NodeJS.ErrnoException).code).to.equal('ENOENT');
    const denied = await step(path.join(work, 'not-executable'), []).catch((e: NodeJS.ErrnoException) => e);
    expect((denied as NodeJS.ErrnoException).code).to.equal('EACCES');
    const noDir = await step('true', [], { cwd: '/nonexistent' }).catch((e: NodeJS.ErrnoException) => e);
    expect((noDir as NodeJS.ErrnoException).code).to.equal('ENOENT');
    expect((await step('true', [])).exitCode).to.equal(0);
  });

  it("ends what a step left running when it exits, and sees nothing of the host's processes", async () => {
    // One holds the step's output open in a session of its own: the step still ends when its process does.
    const first = await step('sh', ['-c', 'setsid sleep 987654 & sleep 987653 >/dev/null 2>&1 & echo started']);
    expect(first.lines).to.deep.equal(['started']);
    const left = await step('sh', ['-c', 'cat /proc/[0-9]*/cmdline | tr "\\0" " "'], { capture: true });
    expect(left.stdout).to.not.match(/sleep 98765[34]/);
    expect(left.stdout).to.include('/opt/slipway/build-agent');
    expect(left.stdout).to.not.include('node');
  });

  it("keeps a step off the agent's own pipes: it cannot read them or write frames for it", async () => {
    const script = [
      'agent=$(for p in /proc/[0-9]*; do [ "$(tr "\\0" " " < $p/cmdline 2>/dev/null)" = "/opt/slipway/build-agent " ] && echo ${p#/proc/}; done)',
      'echo "agent=$agent"',
      'ls /proc/$agent/fd 2>&1 | head -1',
      'printf "x\\004\\000\\000\\000exit 0" > /proc/$agent/fd/1 2>&1 || echo "write refused"',
      'printf "garbage" > /proc/$agent/fd/0 2>&1 || echo "inject refused"',
      // An init of bwrap's at pid 1 would hold the same descriptors (sockets from node, which /proc does not open; pipes it would).
      'printf "x\\004\\000\\000\\000exit 0" > /proc/1/fd/1 2>&1 || echo "init write refused"',
      'exit 5',
    ].join('\n');
    const r = await step('sh', ['-c', script]);
    expect(r.lines.join('\n')).to.match(/agent=\d+/);
    expect(r.lines.join('\n')).to.match(/Permission denied/);
    expect(r.lines).to.include.members(['write refused', 'inject refused', 'init write refused']);
    expect(r.exitCode, 'the step ended as it did, not as a forged frame said').to.equal(5);
    // Nor can a step stop or kill it: it is the guest's init.
    const signals = await step('sh', ['-c', 'kill -STOP 1; kill -KILL 1; echo sent']);
    expect(signals.lines).to.include('sent');
    expect((await step('echo', ['still here'])).lines).to.deep.equal(['still here']);
  });

  it('ends a step killed from outside as killed, and refuses later ones with one line', async () => {
    const ac = new AbortController();
    const running = step('sh', ['-c', 'echo going; sleep 600'], { signal: ac.signal });
    await new Promise((r) => setTimeout(r, 300));
    ac.abort();
    const r: StreamingResult = await running;
    expect(r.aborted).to.equal(true);
    const after = await step('true', []).catch((e: Error) => e);
    expect(String(after)).to.match(/guest has ended/);
  });
});

describe('build agent frames: what is not the agent speaking is refused', () => {
  it('cuts frames across chunks, and throws at an unknown kind or an oversized length', () => {
    const f = new AgentFrames();
    const whole = Buffer.concat([
      Buffer.from([0x6f, 3, 0, 0, 0]),
      Buffer.from('abc'),
      Buffer.from([0x78, 6, 0, 0, 0]),
      Buffer.from('exit 0'),
    ]);
    expect(f.push(whole.subarray(0, 6))).to.deep.equal([]);
    const frames = f.push(whole.subarray(6));
    expect(frames.map((x) => [x.kind, x.data.toString()])).to.deep.equal([
      ['o', 'abc'],
      ['x', 'exit 0'],
    ]);
    expect(() => new AgentFrames().push(Buffer.from('hello world'))).to.throw(/not a frame/);
    expect(() => new AgentFrames().push(Buffer.from([0x6f, 0xff, 0xff, 0xff, 0x7f]))).to.throw(/not a frame/);
  });
});
