// The relay is a long-running process wired to a terminal session: it keeps its own spawn. Only the one-shot python3 lookup goes through execa.
import { spawn, type ChildProcess } from 'node:child_process';
import { execa } from 'execa';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { SlipwayError } from '../../errors.js';
import { RELAY_SCRIPT } from './relay-script.js';

export interface PtySize {
  cols: number;
  rows: number;
}

export interface SpawnPtyOptions {
  /** Absolute path of the Python 3 interpreter (see `findPython`). */
  python: string;
  /** Program and arguments, run on the terminal as given (execvp, no shell). */
  argv: string[];
  cwd: string;
  /** The program's whole environment; the relay adds nothing to it. */
  env: Record<string, string>;
  size: PtySize;
  /** Own process group, so a caller can signal the relay and not itself. */
  detached?: boolean;
}

export interface PtyProcess {
  /**
   * The relay. Its stdin is the terminal's keyboard, its stdout the screen;
   * its stderr carries only the relay's own failures. It exits with the
   * program's status (128+N for signal N); SIGTERM hangs the terminal up.
   */
  child: ChildProcess;
  /** Changes the terminal size; the program's foreground job gets SIGWINCH. */
  resize(cols: number, rows: number): void;
}

/**
 * Runs `argv` on a fresh pseudo-terminal through the Python relay. The size
 * channel is the relay's fd 3: one `COLS ROWS` line per change.
 */
export function spawnPty(opts: SpawnPtyOptions): PtyProcess {
  const { cols, rows } = clampSize(opts.size);
  const child = spawn(opts.python, ['-I', '-c', RELAY_SCRIPT, String(cols), String(rows), ...opts.argv], {
    cwd: opts.cwd,
    env: opts.env,
    detached: opts.detached,
    stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
  });
  const sizes = child.stdio[3] as Writable | null;
  // The relay closing its end (it exited) is not our error. Nobody reads
  // this pipe, so it would never see EOF: close it ourselves, or the child's
  // 'close' event (all its pipes done) would never come.
  sizes?.on('error', () => undefined);
  child.once('exit', () => sizes?.destroy());
  return {
    child,
    resize(c, r) {
      if (!sizes || sizes.destroyed || sizes.writableEnded || child.exitCode !== null || child.signalCode !== null) return;
      const size = clampSize({ cols: c, rows: r });
      sizes.write(`${size.cols} ${size.rows}\n`);
    },
  };
}

/** winsize fields are unsigned shorts; a client may send anything. */
function clampSize(size: PtySize): PtySize {
  const clamp = (n: number) => (Number.isFinite(n) ? Math.min(Math.max(Math.trunc(n), 0), 65535) : 0);
  return { cols: clamp(size.cols), rows: clamp(size.rows) };
}

let found: Promise<string> | undefined;

/**
 * The real path of the daemon's `python3`, resolved once. Resolving it here,
 * with the daemon's own environment, matters: the relay runs with the app's
 * PATH and cwd, where a version-manager shim (pyenv) would pick the app's
 * `.python-version` instead of a working interpreter. A failure is not
 * cached: the operator may install python3 without restarting Slipway.
 */
export function findPython(): Promise<string> {
  found ??= (async () => {
    const run = await execa('python3', ['-I', '-c', 'import pty, sys; print(sys.executable)'], {
      cwd: '/',
      timeout: 10_000,
      reject: false,
    });
    const exe = run.stdout?.trim() ?? '';
    if (!run.failed && path.isAbsolute(exe)) return exe;
    found = undefined;
    throw new SlipwayError(
      'pty_unavailable',
      `cannot allocate a terminal: python3 is not usable${run.failed ? ` (${String(run.shortMessage).split('\n')[0]})` : ''}`,
      {
        status: 500,
        hint: 'install python3 on the Slipway host (apt-get install python3), or run without a terminal (ssh -T)',
        cause: run.failed ? run : undefined,
      },
    );
  })();
  return found;
}
