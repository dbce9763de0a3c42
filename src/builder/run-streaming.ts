// Not execa: build steps stream every line to the job log as it comes, in their own process group that the orphan marker and abort must reach.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import type { ChildOwner } from '../runtime/orphans.js';

/**
 * Somewhere else to run a build step than as the daemon's user: the process
 * driver's guests, as the app's own user with only the build's dirs visible.
 */
export interface Sandbox {
  wrap(cmd: StepCommand): SandboxedCommand;
}

/** A step as a Sandbox is given it: what to run, where, with which environment. */
export interface StepCommand {
  command: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
}

export interface SandboxedCommand extends StepCommand {
  /** Ends everything the step started, `setsid` children included. */
  kill(): void;
  /** After the step's process exited: ends what is left and frees the sandbox. */
  done(): Promise<void>;
  /** Runs the step in something already up (the build agent) instead of spawning `command`. */
  start?(): StepProcess;
}

/**
 * What runStreaming needs of a child: its output, then `close` (code,
 * signal) once it ended and its output was all read, or `error` when it
 * could not start (with `code`, as spawn's ENOENT).
 */
export type StepProcess = Pick<ChildProcess, 'pid' | 'stdin' | 'stdout' | 'stderr'> & {
  on(event: 'close', listener: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
};

export interface StreamingOptions {
  /** Executable to run; never a shell line. */
  command: string;
  args: string[];
  cwd: string;
  /** The complete environment of the child; nothing is inherited. */
  env: Record<string, string>;
  /** Called once per output line (stdout and stderr) as soon as the line is complete. */
  onLine: (line: string) => void;
  /** Keep stdout for the caller instead of passing it to `onLine` (detect, release). */
  captureStdout?: boolean;
  /** Aborting kills the child's whole process group. */
  signal?: AbortSignal;
  /** How long a child may ignore SIGTERM after an abort before SIGKILL. */
  killGraceMs?: number;
  /** Runs the child in this sandbox instead of as the daemon's user. */
  sandbox?: Sandbox;
  /** Marks the child and records its group, so nothing of it outlives its job or a crash of the daemon. */
  owner?: ChildOwner;
  /**
   * What the child reads on stdin, once known: a child started ahead of its
   * work (a warm build) waits there. A rejection means it is not needed: it is killed.
   */
  input?: Promise<string>;
}

export interface StreamingResult {
  exitCode: number | null;
  /** The signal that ended the child, if any. */
  exitSignal: NodeJS.Signals | null;
  stdout: string;
  aborted: boolean;
}

/**
 * Runs a child and reports its output line by line while it runs, so a user
 * watching `git push` sees a slow `npm install` progress instead of a silence
 * followed by everything at once.
 */
export function runStreaming(opts: StreamingOptions): Promise<StreamingResult> {
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) {
      resolve({ exitCode: null, exitSignal: null, stdout: '', aborted: true });
      return;
    }
    // detached: the child leads its own process group, so an abort also stops
    // what it started (npm runs scripts through sh, which runs node, …).
    const boxed = opts.sandbox?.wrap({ command: opts.command, args: opts.args, cwd: opts.cwd, env: opts.env });
    const run = boxed ?? { command: opts.command, args: opts.args, cwd: opts.cwd, env: opts.env };
    const child: StepProcess = boxed?.start
      ? boxed.start()
      : spawn(run.command, run.args, {
          cwd: run.cwd,
          env: { ...run.env, ...opts.owner?.env },
          stdio: [opts.input ? 'pipe' : 'ignore', 'pipe', 'pipe'],
          detached: true,
        });
    const disown = child.pid === undefined ? undefined : opts.owner?.adopt(child.pid);
    let stdout = '';
    let aborted = false;
    let killTimer: NodeJS.Timeout | undefined;

    const killGroup = (sig: NodeJS.Signals) => {
      // A sandboxed step is ended through its sandbox: its processes are in their own session.
      if (boxed) return boxed.kill();
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, sig);
      } catch {
        /* already gone */
      }
    };
    const onAbort = () => {
      aborted = true;
      killGroup('SIGTERM');
      killTimer = setTimeout(() => killGroup('SIGKILL'), opts.killGraceMs ?? 5000);
      killTimer.unref();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.input && child.stdin) {
      const stdin = child.stdin;
      // A child that died before it read its input: the write fails, its exit says why.
      stdin.on('error', () => undefined);
      opts.input.then(
        (text) => stdin.end(text),
        () => {
          stdin.destroy();
          killGroup('SIGKILL');
        },
      );
    }

    // detect prints a name and release a little YAML; past a MiB it is not that, and is not kept.
    if (opts.captureStdout)
      child.stdout!.on('data', (chunk: Buffer) => {
        if (stdout.length < MAX_CAPTURE) stdout += chunk.toString('utf8');
      });
    else splitLines(child.stdout!, opts.onLine);
    splitLines(child.stderr!, opts.onLine);

    child.on('error', (err) => {
      disown?.();
      opts.signal?.removeEventListener('abort', onAbort);
      clearTimeout(killTimer);
      void boxed?.done();
      reject(err);
    });
    child.on('close', (code, sig) => {
      disown?.();
      opts.signal?.removeEventListener('abort', onAbort);
      clearTimeout(killTimer);
      // Whatever the step left running (a daemon it forked) ends with it, as on Heroku's build dynos.
      void (boxed ? boxed.done() : Promise.resolve()).then(() => resolve({ exitCode: code, exitSignal: sig, stdout, aborted }));
    });
  });
}

const MAX_CAPTURE = 1024 * 1024;
/** Output without a newline is passed on in pieces of this many characters, so it cannot pile up. */
const MAX_LINE = 64 * 1024;

/** Emits each complete line of a stream; a last unterminated line is flushed at the end. */
export function splitLines(stream: Readable, onLine: (line: string) => void): void {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    pending += chunk;
    let start = 0;
    let nl: number;
    while ((nl = pending.indexOf('\n', start)) !== -1) {
      onLine(pending.slice(start, nl).replace(/\r$/, ''));
      start = nl + 1;
    }
    pending = pending.slice(start);
    while (pending.length > MAX_LINE) {
      onLine(pending.slice(0, MAX_LINE));
      pending = pending.slice(MAX_LINE);
    }
  });
  stream.on('end', () => {
    if (pending !== '') onLine(pending.replace(/\r$/, ''));
    pending = '';
  });
}
