import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import type { ExecRequest } from '../driver.js';
import { SlipwayError } from '../../errors.js';
import { spawnPty } from '../pty/spawn-pty.js';
import { execLauncherArgs, instanceEnv } from './command.js';
import { signalGroup } from './group.js';

export interface ExecOptions {
  /** N of `run.N`, the DYNO the process sees. */
  index: number;
  /** PATH handed to the process; default the daemon's own. */
  path?: string;
  /** Resolves the Python interpreter of the pty relay; called only when a terminal is asked for. */
  python: () => Promise<string>;
  /** After an abort, how long SIGTERM/SIGHUP gets before SIGKILL. */
  killGraceMs?: number;
}

/** How long output may keep arriving after the process exited (from what it left behind). */
const DRAIN_MS = 2000;

/**
 * Runs a one-off process (`run`, `enter`) in a release: the app's clean
 * environment, `.profile.d` sourced, cwd and HOME the release directory. With
 * `req.tty` it gets a pseudo-terminal (through the pty relay), else plain pipes.
 * Resolves with its exit code, 128+N when it died of signal N.
 *
 * Like a one-off dyno, it is torn down with its main process: what that left
 * running in its process group is killed once it exits.
 */
export async function runExec(req: ExecRequest, opts: ExecOptions): Promise<number> {
  if (!req.argv.length) throw new SlipwayError('invalid', 'no command to run', { status: 422, hint: 'name a program, e.g. `run APP -- ls`' });
  await checkDir(req);
  if (req.signal?.aborted) throw new SlipwayError('aborted', 'cancelled before it started', { status: 499 });
  const { app, release, releaseDir, dataDir } = req;
  const dyno = req.dyno ?? `run.${opts.index}`;
  const env = { ...instanceEnv({ spec: { app, release, releaseDir, dataDir, env: req.env, type: 'run', index: opts.index }, path: opts.path }), DYNO: dyno, ...req.owner?.env };
  const argv = ['bash', ...execLauncherArgs(app, dyno, req.argv)];

  const started = req.tty ? await startPty(req, argv, env, opts) : startPiped(req, argv, env);
  const disown = started.child.pid === undefined ? undefined : req.owner?.adopt(started.child.pid);
  return supervise(req, started, opts.killGraceMs ?? 5000).finally(() => disown?.());
}

interface Started {
  child: ChildProcess;
  /** Asks the process to end (abort): SIGTERM to the group, or a hang-up of the terminal. */
  terminate(): void;
  /** Ends it and whatever is left of it. */
  kill(): void;
  /** After the main process exited: its leftovers go. */
  reap(): void;
}

function startPiped(req: ExecRequest, argv: string[], env: Record<string, string>): Started {
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd: req.releaseDir,
    env,
    // Own process group: abort and the final reap reach what it forked.
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const group = (signal: NodeJS.Signals) => {
    if (child.pid !== undefined) signalGroup(child.pid, signal);
  };
  return { child, terminate: () => group('SIGTERM'), kill: () => group('SIGKILL'), reap: () => group('SIGKILL') };
}

async function startPty(req: ExecRequest, argv: string[], env: Record<string, string>, opts: ExecOptions): Promise<Started> {
  const python = await opts.python();
  const pty = spawnPty({ python, argv, cwd: req.releaseDir, env, size: req.tty!, detached: true });
  let done = false;
  pty.child.once('exit', () => (done = true));
  // ssh-session calls a new listener at once with the current size; later
  // window changes follow. Listeners cannot be removed, hence `done`.
  req.onResize?.((cols, rows) => {
    if (!done) pty.resize(cols, rows);
  });
  const child = pty.child;
  return {
    child,
    // The relay hangs the terminal up (SIGHUP to the session) and SIGKILLs it later.
    terminate: () => child.kill('SIGTERM'),
    kill: () => {
      if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
    },
    // The relay exits only after the program did; its session's leftovers get
    // the kernel's hang-up when the relay's end of the terminal closes.
    reap: () => undefined,
  };
}

/** Wires the streams, follows the abort signal, and resolves with the exit code. */
function supervise(req: ExecRequest, started: Started, graceMs: number): Promise<number> {
  const { child } = started;
  return new Promise<number>((resolve, reject) => {
    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      started.terminate();
      killTimer = setTimeout(() => started.kill(), graceMs);
    };

    child.stdin!.on('error', () => undefined); // EPIPE: it does not read its input
    req.stdin.pipe(child.stdin!);
    child.stdout!.pipe(req.stdout, { end: false });
    child.stderr!.pipe(req.stderr, { end: false });
    const closed = new Promise<void>((r) => child.once('close', () => r()));
    // A pid means the kernel started it; a spawn that failed has none and reports 'error' instead.
    if (child.pid !== undefined) req.onStart?.();

    const cleanup = () => {
      clearTimeout(killTimer);
      req.signal?.removeEventListener('abort', onAbort);
      req.stdin.unpipe(child.stdin!);
    };

    child.once('error', (err) => {
      cleanup();
      reject(
        new SlipwayError('exec_failed', `cannot start ${req.argv[0]} in ${req.app}: ${err.message}`, {
          status: 500,
          hint: req.tty ? 'check that python3 and bash are on the Slipway host' : 'check that bash is on the daemon PATH',
          cause: err,
        }),
      );
    });
    child.once('exit', (code, signal) => {
      cleanup();
      started.reap();
      const exitCode = code ?? 128 + (signal ? (os.constants.signals[signal] ?? 0) : 0);
      // Output still in the pipes is the process's last words; wait for it,
      // but not for leftovers that moved to a group of their own.
      let drainTimer: NodeJS.Timeout | undefined;
      const drained = new Promise<void>((r) => (drainTimer = setTimeout(r, DRAIN_MS)));
      void Promise.race([closed, drained]).then(() => {
        clearTimeout(drainTimer);
        child.stdout!.unpipe(req.stdout);
        child.stderr!.unpipe(req.stderr);
        child.stdout!.destroy();
        child.stderr!.destroy();
        resolve(exitCode);
      });
    });
    req.signal?.addEventListener('abort', onAbort, { once: true });
    // Aborted while the relay's interpreter was being looked up.
    if (req.signal?.aborted) onAbort();
  });
}

/** Spawn reports a missing cwd as "spawn bash ENOENT"; say what is really wrong. */
async function checkDir(req: ExecRequest): Promise<void> {
  const stat = await fs.stat(req.releaseDir).catch(() => undefined);
  if (!stat?.isDirectory()) {
    throw new SlipwayError('release_dir_missing', `release directory ${req.releaseDir} does not exist`, {
      status: 500,
      hint: `redeploy v${req.release} of ${req.app} (slipway rollback ${req.app} v${req.release})`,
    });
  }
}
