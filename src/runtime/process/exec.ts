import fs from 'node:fs/promises';
import os from 'node:os';
import type { GuestHost } from '../../guest/host.js';
import type { ExecRequest } from '../driver.js';
import { SlipwayError } from '../../errors.js';
import { execLauncherArgs, instanceEnv } from '../command.js';
import { launch, type Launched } from './launcher.js';

export interface ExecOptions {
  /** N of `run.N`, the DYNO the process sees. */
  index: number;
  /** PATH handed to the process; default the daemon's own. */
  path?: string;
  /** Resolves the Python interpreter of the pty relay; called only when a terminal is asked for. */
  python: () => Promise<string>;
  /** After an abort, how long SIGTERM/SIGHUP gets before SIGKILL. */
  killGraceMs?: number;
  /** Makes the one-off's guest; absent on a server that cannot (not root). */
  guests?: GuestHost;
}

/** How long output may keep arriving after the process exited (from what it left behind). */
const DRAIN_MS = 2000;

/**
 * Runs a one-off process (`run`, `enter`, the release phase, hooks) in a
 * release: the app's clean environment, `.profile.d` sourced, in a guest of
 * its own whose /app is the release (ephemeral unless `req.keepWrites`). With
 * `req.tty` it gets a pseudo-terminal (through the pty relay), else pipes.
 * Resolves with its exit code, 128+N when it died of signal N.
 *
 * Like a one-off dyno, it is torn down with its main process: what that left
 * running is killed once it exits.
 */
export async function runExec(req: ExecRequest, opts: ExecOptions): Promise<number> {
  if (!req.argv.length)
    throw new SlipwayError('invalid', 'no command to run', { status: 422, hint: 'name a program, e.g. `run APP -- ls`' });
  await checkDir(req);
  if (req.signal?.aborted) throw new SlipwayError('aborted', 'cancelled before it started', { status: 499 });
  const { app, release, releaseDir, dataDir } = req;
  const dyno = req.dyno ?? `run.${opts.index}`;
  const env = {
    ...instanceEnv({ spec: { app, release, releaseDir, dataDir, env: req.env, type: 'run', index: opts.index }, path: opts.path }),
    DYNO: dyno,
    ...req.owner?.env,
  };
  const launched = launch(
    {
      name: `${app}.v${release}.${dyno}.${opts.index}`,
      user: req.user,
      limits: req.limits,
      app: { dir: releaseDir, ephemeral: !req.keepWrites },
      dataDir,
      binds: req.mounts?.map((m) => ({ path: m.path, writable: !m.readOnly })),
      env,
      argv: ['bash', ...execLauncherArgs(app, dyno, req.argv)],
      tty: !!req.tty,
      join: req.instanceId,
      stdio: ['pipe', 'pipe', 'pipe'],
      pty: req.tty ? { python: await opts.python(), size: req.tty } : undefined,
    },
    opts.guests,
  );
  if (launched.resize) {
    let done = false;
    launched.child.once('exit', () => (done = true));
    // ssh-session calls a new listener at once with the current size; later
    // window changes follow. Listeners cannot be removed, hence `done`.
    req.onResize?.((cols, rows) => {
      if (!done) launched.resize!(cols, rows);
    });
  }
  const disown = launched.child.pid === undefined ? undefined : req.owner?.adopt(launched.child.pid);
  return supervise(req, launched, opts.killGraceMs ?? 5000).finally(() => disown?.());
}

/** Wires the streams, follows the abort signal, and resolves with the exit code. */
function supervise(req: ExecRequest, started: Launched, graceMs: number): Promise<number> {
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
    child.once('exit', async (code, signal) => {
      cleanup();
      const { memoryKilled } = await started.finish();
      if (memoryKilled)
        req.stderr.write(
          ` !     Error R15 (Memory quota vastly exceeded): ${req.argv[0]} was killed by its memory limit${req.limits ? ` of ${req.limits.memoryMb}M` : ''}\n`,
        );
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
