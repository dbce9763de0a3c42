// Not execa: instances and one-offs are long-running, detached in their own process group, with stdio wired to logs or a session; the supervisor owns their life.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import type { Guest, GuestHost, GuestRun } from '../../guest/host.js';
import { spawnPty, type PtySize } from '../pty/spawn-pty.js';
import { groupAlive, signalGroup, waitGroupGone } from './group.js';

export interface LaunchRequest extends Omit<GuestRun, 'user' | 'limits'> {
  user?: GuestRun['user'];
  limits?: GuestRun['limits'];
  /** Host working directory when there is no guest (default the app dir). */
  hostCwd?: string;
  stdio: StdioOptions;
  /** Run inside this running guest (an instance id) rather than a fresh one, when it is up. */
  join?: string;
  /** Run on a pseudo-terminal through the relay (`python` is its interpreter). */
  pty?: { python: string; size: PtySize };
}

/** A started process, in a guest or not: the calls that stop it and clean up after it. */
export interface Launched {
  child: ChildProcess;
  /** Changes a terminal's size (pty launches only). */
  resize?(cols: number, rows: number): void;
  /** Asks it to end: SIGTERM (or `signal`) to the app's processes. */
  terminate(signal?: NodeJS.Signals): void;
  /** Ends it and everything it started, now. */
  kill(): void;
  /** True while any process of it is left. */
  alive(): boolean;
  /** Once the main process exited: ends what is left, frees the guest; reports a kill by the memory limit. */
  finish(): Promise<{ memoryKilled: boolean }>;
}

/**
 * Starts `argv` either in a guest (when the driver has a GuestHost and the
 * request names the app's user) or, on a server that cannot make guests (not
 * root), as the daemon's user in a process group of its own — the server said
 * so at start.
 */
export function launch(req: LaunchRequest, guests?: GuestHost): Launched {
  const joined = guests && req.join ? guests.join(req.join, req.argv, req.env) : undefined;
  // The joined process shares the instance's cgroup: it is ended by its own process group, never by the guest's.
  if (joined) return launchOnHost({ ...req, argv: joined.argv, env: joined.env, hostCwd: '/' });
  if (guests && req.user && req.limits) return launchInGuest(guests.open({ ...req, user: req.user, limits: req.limits }), req);
  return launchOnHost(req);
}

function launchInGuest(guest: Guest, req: LaunchRequest): Launched {
  const { command, args, env } = guest.launch;
  let child: ChildProcess;
  let resize: Launched['resize'];
  try {
    if (req.pty) {
      const pty = spawnPty({ python: req.pty.python, argv: [command, ...args], cwd: '/', env, size: req.pty.size, detached: true });
      child = pty.child;
      resize = pty.resize;
    } else {
      child = spawn(command, args, { cwd: '/', env, detached: true, stdio: req.stdio });
    }
  } catch (err) {
    void guest.destroy();
    throw err;
  }
  child.once('error', () => void guest.destroy());
  return {
    child,
    resize,
    terminate: (signal = 'SIGTERM') => {
      // A terminal is hung up by its relay (SIGHUP to the guest's session, which an interactive shell honours).
      if (req.pty) return void child.kill(signal);
      // Before the app itself runs (still in the prelude) there is nobody to ask: end it.
      if (!guest.signalApp(signal)) void guest.cgroup.killAll();
    },
    kill: () => void guest.cgroup.killAll(),
    alive: () => guest.cgroup.pids().length > 0,
    finish: async () => {
      const memoryKilled = guest.memoryKilled();
      await guest.destroy();
      return { memoryKilled };
    },
  };
}

function launchOnHost(req: LaunchRequest): Launched {
  const cwd = req.hostCwd ?? req.app?.dir ?? '/';
  let child: ChildProcess;
  let resize: Launched['resize'];
  if (req.pty) {
    const pty = spawnPty({ python: req.pty.python, argv: req.argv, cwd, env: req.env, size: req.pty.size, detached: true });
    child = pty.child;
    resize = pty.resize;
  } else {
    // Own process group: a stop must reach whatever the command forks.
    child = spawn(req.argv[0]!, req.argv.slice(1), { cwd, env: req.env, detached: true, stdio: req.stdio });
  }
  const group = (signal: NodeJS.Signals) => child.pid !== undefined && signalGroup(child.pid, signal);
  return {
    child,
    resize,
    // The pty relay hangs its terminal up on SIGTERM; a plain group gets the signal itself.
    terminate: (signal = 'SIGTERM') => (req.pty ? child.kill(signal) : group(signal)),
    kill: () => group('SIGKILL'),
    alive: () => child.pid !== undefined && groupAlive(child.pid),
    finish: async () => {
      // The relay's terminal hang-up ends its session; a plain group is killed and awaited.
      if (!req.pty && child.pid !== undefined && group('SIGKILL')) await waitGroupGone(child.pid, Date.now() + 2000);
      return { memoryKilled: false };
    },
  };
}
