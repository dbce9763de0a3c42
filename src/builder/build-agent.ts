// Not execa: the agent is one long-lived child spoken to in frames on its stdin and stdout.
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import type { Guest, GuestHost, GuestRun } from '../guest/host.js';
import { PACKAGE_ROOT } from '../paths.js';
import { splitLines, type Sandbox, type SandboxedCommand, type StepCommand, type StepProcess } from './run-streaming.js';

/** The compiled agent (src/guest/build-agent.c), built by `npm run build` where a C compiler is. */
export const BUILD_AGENT = path.join(PACKAGE_ROOT, 'dist', 'guest', 'slipway-build-agent');
/** Where a build's guest sees it. */
const IN_GUEST = '/opt/slipway/build-agent';
/** The agent sends output in pieces of at most 64 KiB; anything much larger is not the agent speaking. */
const MAX_FRAME = 1024 * 1024;

export function builtAgent(): string | undefined {
  try {
    fs.accessSync(BUILD_AGENT, fs.constants.X_OK);
    return BUILD_AGENT;
  } catch {
    return undefined;
  }
}

export interface BuildAgentOptions {
  /** The guest: its name, user, limits and binds (at the same paths inside, so the daemon's paths hold there too). */
  guest: Pick<GuestRun, 'name' | 'user' | 'limits' | 'binds' | 'env'>;
  /** Lines the agent or its guest print about themselves (a failed start). */
  log: (line: string) => void;
}

/**
 * A host build's one guest, with the build agent in it: a Sandbox in which
 * every step of builder/buildpacks.ts runs, one after the other, as the app's
 * user, without a guest (or a node) started per step. The daemon drives the
 * build; what comes back from the guest is read as the app's own output,
 * bounded and checked, never trusted.
 */
export class BuildAgent implements Sandbox {
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;
  private step: AgentStep | undefined;
  private gone = false;
  private readonly frames = new AgentFrames();

  private constructor(
    private readonly guest: Guest,
    log: (line: string) => void,
  ) {
    const { command, args, env } = guest.launch;
    this.child = spawn(command, args, { cwd: '/', env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.child.once('close', () => resolve()));
    this.child.once('error', (err) => log(`the build's guest could not start: ${err.message}`));
    this.child.stdin!.on('error', () => undefined);
    this.child.stdout!.on('data', (chunk: Buffer) => this.read(chunk));
    splitLines(this.child.stderr!, log);
    void this.exited.then(() => {
      this.gone = true;
      this.step?.end(null, 'SIGKILL');
      this.step = undefined;
    });
  }

  static start(host: GuestHost, opts: BuildAgentOptions): BuildAgent {
    const guest = host.open({
      ...opts.guest,
      binds: [...(opts.guest.binds ?? []), { path: BUILD_AGENT, target: IN_GUEST, writable: false }],
      cwd: '/',
      argv: [IN_GUEST],
      asInit: true,
    });
    return new BuildAgent(guest, opts.log);
  }

  wrap(cmd: StepCommand): SandboxedCommand {
    return {
      ...cmd,
      // A step's leftovers are ended by the agent when it exits; an abort ends the whole guest, as the build is over.
      kill: () => void this.guest.cgroup.killAll(),
      done: () => Promise.resolve(),
      start: () => this.run(cmd),
    };
  }

  /** False once the agent exited (its guest was killed, it crashed): it takes no more steps. */
  get alive(): boolean {
    return !this.gone;
  }

  /** No more steps: the agent exits at the end of its input, and its guest is removed. */
  async close(): Promise<void> {
    this.child.stdin!.end();
    const late = setTimeout(() => void this.guest.cgroup.killAll(), 5000);
    await this.exited;
    clearTimeout(late);
    await this.guest.destroy();
  }

  private run(cmd: StepCommand): StepProcess {
    const step = new AgentStep();
    if (this.gone || this.step) {
      process.nextTick(() => step.fail('ESRCH', this.gone ? "the build's guest has ended" : 'a step is still running'));
      return step;
    }
    // Spawn refuses a NUL in an argument; so does this, before it would split one into two.
    const strings = [
      cmd.cwd,
      String(cmd.args.length + 1),
      cmd.command,
      ...cmd.args,
      ...Object.entries(cmd.env).map(([k, v]) => `${k}=${v}`),
    ];
    if (strings.some((s) => s.includes('\0'))) throw new TypeError(`a step's command, arguments or environment contain a NUL byte`);
    const body = Buffer.from(strings.map((s) => `${s}\0`).join(''));
    const head = Buffer.alloc(4);
    head.writeUInt32LE(body.length);
    this.step = step;
    this.child.stdin!.write(Buffer.concat([head, body]));
    return step;
  }

  private read(chunk: Buffer): void {
    let frames: AgentFrame[];
    try {
      frames = this.frames.push(chunk);
    } catch {
      return this.garbled();
    }
    for (const { kind, data } of frames) {
      const step = this.step;
      if (!step) return this.garbled();
      if (kind === 'o') step.stdout.write(data);
      else if (kind === 'e') step.stderr.write(data);
      else {
        this.step = undefined;
        const text = data.toString('latin1');
        const ended = /^(exit|signal) (\d{1,3})$/.exec(text);
        if (kind === 'f' && /^\d{1,4}$/.test(text)) step.fail(errnoName(Number(text)), 'could not start');
        else if (kind === 'x' && ended)
          step.end(ended[1] === 'exit' ? Number(ended[2]) : null, ended[1] === 'signal' ? signalName(Number(ended[2])) : null);
        else return this.garbled(step);
      }
    }
  }

  /** Output that is not the agent's frames: the guest is ended, and the step with it. */
  private garbled(step = this.step): void {
    this.gone = true;
    this.child.stdout!.removeAllListeners('data');
    void this.guest.cgroup.killAll();
    step?.fail('EPROTO', "the build agent's output was not understood");
    this.step = undefined;
  }
}

export interface AgentFrame {
  kind: 'o' | 'e' | 'x' | 'f';
  data: Buffer;
}

/**
 * The agent's output cut into frames: a kind byte, a 4-byte little-endian
 * length, the data. Throws at the first byte that cannot be the agent's.
 */
export class AgentFrames {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): AgentFrame[] {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const out: AgentFrame[] = [];
    while (this.pending.length >= 5) {
      const kind = String.fromCharCode(this.pending[0]!);
      const len = this.pending.readUInt32LE(1);
      if (!'oexf'.includes(kind) || len > MAX_FRAME)
        throw new Error(`not a frame of the build agent (kind ${JSON.stringify(kind)}, ${len} bytes)`);
      if (this.pending.length < 5 + len) break;
      out.push({ kind: kind as AgentFrame['kind'], data: this.pending.subarray(5, 5 + len) });
      this.pending = this.pending.subarray(5 + len);
    }
    return out;
  }
}

/** One step run by the agent, looking to runStreaming like a child process. */
class AgentStep extends EventEmitter implements StepProcess {
  readonly pid = undefined;
  readonly stdin = null;
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  private over = false;

  /** Closes its output, then says how it ended once that output was read. */
  end(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.over) return;
    this.over = true;
    this.stdout.end();
    this.stderr.end();
    // Read by runStreaming's listeners; resumed in case a caller has none, so that `end` comes.
    this.stdout.resume();
    this.stderr.resume();
    void Promise.all([once(this.stdout, 'end'), once(this.stderr, 'end')]).then(() => this.emit('close', code, signal));
  }

  fail(code: string, message: string): void {
    if (this.over) return;
    this.over = true;
    this.stdout.destroy();
    this.stderr.destroy();
    this.emit('error', Object.assign(new Error(`${message} (${code})`), { code }));
  }
}

function errnoName(n: number): string {
  return Object.entries(os.constants.errno).find(([, v]) => v === n)?.[0] ?? `errno ${n}`;
}

function signalName(n: number): NodeJS.Signals {
  return (Object.entries(os.constants.signals).find(([, v]) => v === n)?.[0] ?? 'SIGKILL') as NodeJS.Signals;
}
