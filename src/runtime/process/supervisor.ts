import { spawn, type ChildProcess } from 'node:child_process';
import type { Instance, InstanceSpec, InstanceState } from '../driver.js';
import { instanceEnv, launcherArgs } from './command.js';
import { groupAlive, signalGroup, waitGroupGone } from './group.js';
import { LogWriter } from './log-writer.js';
import type { PidFiles } from './pidfiles.js';
import { isPortOpen } from './ports.js';

export interface RestartPolicy {
  /** First delay after a crash. */
  initialMs: number;
  /** The doubling delay never exceeds this. */
  maxMs: number;
  /** A run that lasted this long counts as healthy: the next crash starts over at `initialMs`. */
  resetAfterMs: number;
}

export interface SupervisorOptions {
  id: string;
  spec: InstanceSpec;
  /** Loopback port for `web`; kept for the instance's whole life, restarts included. */
  port?: number;
  restart: RestartPolicy;
  /** PATH handed to the app. */
  path?: string;
  log: (msg: string) => void;
  /** Called on every exit of the process, expected or not. */
  onExit: (code: number | null, signal: string | null) => void;
  /** Where running pids are recorded for reaping after a daemon crash. */
  pidFiles?: PidFiles;
}

/** How often a starting web instance is probed for a listening port. */
const UP_PROBE_MS = 200;
/** After SIGKILL, how long we wait for the kernel to tear the group down. */
const KILL_SETTLE_MS = 2000;

/**
 * Runs one instance and keeps it running: respawns it with exponential backoff
 * when it dies unasked, until `stop`. One supervisor per instance id keeps the
 * state machine small: starting → up → crashed → starting … → stopping → stopped.
 */
export class Supervisor {
  readonly id: string;
  readonly spec: InstanceSpec;
  readonly port?: number;
  private state: InstanceState = 'starting';
  private restarts = 0;
  private startedAt = 0;
  private child?: ChildProcess;
  private exited?: Promise<void>;
  /** Resolves once the child's stdout and stderr are closed, i.e. its output is all read. */
  private drained?: Promise<void>;
  private restartTimer?: NodeJS.Timeout;
  private probeTimer?: NodeJS.Timeout;
  /** Crashes in a row without a healthy run in between; drives the backoff. */
  private streak = 0;
  private stopping?: Promise<void>;
  private readonly logs: LogWriter;

  constructor(private readonly opts: SupervisorOptions) {
    this.id = opts.id;
    this.spec = opts.spec;
    this.port = opts.port;
    this.logs = new LogWriter({
      file: opts.spec.logFile,
      name: `${opts.spec.type}.${opts.spec.index}`,
      mask: opts.spec.mask,
      onError: (err) => opts.log(`${opts.id}: cannot write log ${opts.spec.logFile}: ${err.message}`),
    });
  }

  snapshot(): Instance {
    const { app, release, type, index } = this.spec;
    return { id: this.id, app, release, type, index, port: this.port, pid: this.child?.pid, state: this.state, restarts: this.restarts, startedAt: this.startedAt };
  }

  /** First spawn. Rejects when the process cannot even be spawned. */
  start(): Promise<void> {
    return this.spawnOnce();
  }

  /** SIGTERM to the group, SIGKILL after `graceMs`; resolves when the group is gone. */
  stop(graceMs: number): Promise<void> {
    this.stopping ??= this.doStop(graceMs);
    return this.stopping;
  }

  private spawnOnce(): Promise<void> {
    const { spec } = this;
    this.state = 'starting';
    this.startedAt = Date.now();
    return new Promise((resolve, reject) => {
      const child = spawn('bash', launcherArgs(spec), {
        cwd: spec.releaseDir,
        env: instanceEnv({ spec, port: this.port, path: this.opts.path }),
        // Own process group: stop must reach whatever the command forks.
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      this.child = child;
      this.exited = new Promise((r) => child.once('exit', () => r()));
      this.drained = new Promise((r) => child.once('close', () => r()));
      this.logs.attach(child.stdout!);
      this.logs.attach(child.stderr!);
      let spawned = false;
      child.once('spawn', () => {
        spawned = true;
        if (child.pid) this.opts.pidFiles?.record(this.id, child.pid);
        this.logs.note(`Starting process with command \`${spec.command}\``);
        this.watchUntilUp(child);
        resolve();
      });
      child.on('error', (err) => {
        if (spawned) return this.opts.log(`${this.id}: ${err.message}`);
        if (this.child === child) this.child = undefined;
        this.logs.note(`Failed to start: ${err.message}`);
        reject(err);
      });
      child.once('exit', (code, signal) => {
        if (child.pid) this.opts.pidFiles?.forget(this.id, child.pid);
        this.handleExit(child, code, signal);
      });
    });
  }

  /** Web instances are `up` once their port accepts connections; others once spawned. */
  private watchUntilUp(child: ChildProcess): void {
    const markUp = () => {
      if (this.child !== child || this.state !== 'starting') return;
      this.state = 'up';
      this.logs.note('State changed from starting to up');
    };
    if (this.port === undefined) return markUp();
    const probe = async () => {
      this.probeTimer = undefined;
      if (this.child !== child || this.state !== 'starting') return;
      if (await isPortOpen(this.port!, '127.0.0.1', UP_PROBE_MS * 5)) return markUp();
      if (this.child === child && this.state === 'starting') this.probeTimer = setTimeout(probe, UP_PROBE_MS);
    };
    this.probeTimer = setTimeout(probe, UP_PROBE_MS);
  }

  private handleExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child !== child) return;
    this.child = undefined;
    clearTimeout(this.probeTimer);
    const uptime = Date.now() - this.startedAt;
    this.logs.note(signal ? `Process exited on signal ${signal}` : `Process exited with status ${code}`);
    const unasked = !this.stopping;
    // Set before listeners run, so they see the instance as crashed.
    if (unasked) this.state = 'crashed';
    try {
      this.opts.onExit(code, signal);
    } catch (err) {
      this.opts.log(`${this.id}: exit listener failed: ${(err as Error).message}`);
    }
    if (!unasked) return;
    // Whatever it forked must not outlive it: a leftover child would hold the
    // port the restarted instance needs, or keep doing work nobody supervises.
    if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
    this.scheduleRestart(uptime);
  }

  private scheduleRestart(uptime: number): void {
    const { initialMs, maxMs, resetAfterMs } = this.opts.restart;
    if (uptime >= resetAfterMs) this.streak = 0;
    const delay = Math.min(initialMs * 2 ** this.streak, maxMs);
    this.streak++;
    this.logs.note(`Crashed; restarting in ${delay}ms`);
    this.opts.log(`${this.id} crashed; restarting in ${delay}ms`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopping) return;
      this.restarts++;
      this.spawnOnce().catch((err: Error) => {
        this.opts.log(`${this.id}: restart failed: ${err.message}`);
        this.state = 'crashed';
        if (!this.stopping) this.scheduleRestart(0);
      });
    }, delay);
  }

  private async doStop(graceMs: number): Promise<void> {
    clearTimeout(this.restartTimer);
    clearTimeout(this.probeTimer);
    const child = this.child;
    const pid = child?.pid;
    if (child && pid !== undefined) {
      this.state = 'stopping';
      this.logs.note('Stopping all processes with SIGTERM');
      const exited = this.exited ?? Promise.resolve();
      signalGroup(pid, 'SIGTERM');
      const deadline = Date.now() + graceMs;
      const grace = timer(graceMs);
      const gone = await Promise.race([exited.then(() => waitGroupGone(pid, deadline)), grace.promise]);
      grace.cancel();
      if (!gone && (groupAlive(pid) || this.child === child)) {
        this.logs.note(`Stopping all processes with SIGKILL after ${graceMs}ms`);
        signalGroup(pid, 'SIGKILL');
        await exited;
        if (!(await waitGroupGone(pid, Date.now() + KILL_SETTLE_MS))) {
          this.opts.log(`${this.id}: process group ${pid} still present after SIGKILL`);
        }
      }
      // Let the last lines the app wrote reach the log before it is closed.
      const settle = timer(KILL_SETTLE_MS);
      await Promise.race([this.drained, settle.promise]);
      settle.cancel();
    }
    this.state = 'stopped';
    this.logs.note('State changed to stopped');
    await this.logs.close();
  }
}

/** A timeout that can be cancelled, so a finished stop does not hold the event loop for `graceMs`. */
function timer(ms: number): { promise: Promise<false>; cancel: () => void } {
  let handle: NodeJS.Timeout | undefined;
  const promise = new Promise<false>((resolve) => {
    handle = setTimeout(() => resolve(false), ms);
  });
  return { promise, cancel: () => clearTimeout(handle) };
}
