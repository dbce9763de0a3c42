// Not execa: a supervised instance lives until stopped and is respawned with backoff; its exit is an event, not a result.
import type { ChildProcess } from 'node:child_process';
import type { GuestHost } from '../../guest/host.js';
import { loopbackListenerUid } from '../../guest/listeners.js';
import type { Instance, InstanceSpec, InstanceState } from '../driver.js';
import { instanceEnv, launcherArgs } from '../command.js';
import { launch, type Launched } from './launcher.js';
import { LogWriter } from '../../logs/log-writer.js';
import type { PidFiles } from './pidfiles.js';
import { isPortOpen } from '../ports.js';

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
  /** Where running pids are recorded for reaping after a daemon crash (host launches; guests are reaped by cgroup). */
  pidFiles?: PidFiles;
  /** Makes the instance's guest; absent on a server that cannot (not root). */
  guests?: GuestHost;
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
  private launched?: Launched;
  /** Why the last run ended, when the platform ended it (`memory`: the limit). */
  private reason?: string;
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
    return {
      id: this.id,
      app,
      release,
      type,
      index,
      port: this.port,
      pid: this.child?.pid,
      state: this.state,
      restarts: this.restarts,
      startedAt: this.startedAt,
      ...(this.reason ? { reason: this.reason } : {}),
    };
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
      let launched: Launched;
      try {
        launched = launch(
          {
            name: this.id,
            user: spec.user,
            limits: spec.limits,
            app: { dir: spec.releaseDir, ephemeral: true },
            dataDir: spec.dataDir,
            env: instanceEnv({ spec, port: this.port, path: this.opts.path }),
            argv: ['bash', ...launcherArgs(spec)],
            stdio: ['ignore', 'pipe', 'pipe'],
          },
          this.opts.guests,
        );
      } catch (err) {
        this.logs.note(`Failed to start: ${(err as Error).message}`);
        return reject(err);
      }
      const child = launched.child;
      this.child = child;
      this.launched = launched;
      this.exited = new Promise((r) => child.once('exit', () => r()));
      this.drained = new Promise((r) => child.once('close', () => r()));
      this.logs.attach(child.stdout!);
      this.logs.attach(child.stderr!);
      let spawned = false;
      child.once('spawn', () => {
        spawned = true;
        if (child.pid && !this.opts.guests) this.opts.pidFiles?.record(this.id, child.pid);
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
        void this.handleExit(child, launched, code, signal);
      });
    });
  }

  /** Web instances are `up` once their port accepts connections; others once spawned. */
  private watchUntilUp(child: ChildProcess): void {
    const markUp = () => this.markUp(child);
    if (this.port === undefined) return markUp();
    const probe = async () => {
      this.probeTimer = undefined;
      if (this.child !== child || this.state !== 'starting') return;
      if ((await isPortOpen(this.port!, '127.0.0.1', UP_PROBE_MS * 5)) && (await this.ownsPort())) return markUp();
      if (this.child === child && this.state === 'starting') this.probeTimer = setTimeout(probe, UP_PROBE_MS);
    };
    this.probeTimer = setTimeout(probe, UP_PROBE_MS);
  }

  private markUp(child: ChildProcess): void {
    if (this.child !== child || this.state !== 'starting') return;
    clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
    this.state = 'up';
    this.logs.note('State changed from starting to up');
  }

  /** Up (or finishing requests while stopping): its own; starting: only once its own uid listens; crashed: never. */
  serves(): boolean {
    if (this.state === 'up' || this.state === 'stopping') return true;
    // The router asks between two requests and cannot wait: the kernel's socket tables, read now
    // (~5 ms a table). Rare: a web instance is confirmed up before the router is pointed at it.
    if (this.state !== 'starting' || this.child === undefined) return false;
    if (this.checksListener && loopbackListenerUid(this.port!) !== this.spec.user!.uid) return false;
    if (this.checksListener) this.markUp(this.child);
    return true;
  }

  /**
   * After its health check passed: whether the listener that answered is the
   * instance's own (in a guest, its uid's), and if so it is up from now on, so
   * the router's first request need not look. False means another process
   * holds its port.
   */
  async confirmUp(): Promise<boolean> {
    if (this.state === 'up') return true;
    const child = this.child;
    if (this.state !== 'starting' || child === undefined || !(await this.ownsPort())) return false;
    this.markUp(child);
    // It may have exited while we looked.
    return (this.state as InstanceState) === 'up';
  }

  /** In a guest, whether a port's listener is the app's own is read from the kernel's socket tables. */
  private get checksListener(): boolean {
    return this.port !== undefined && this.spec.user?.uid !== undefined && !!this.opts.guests;
  }

  /** In a guest: the connection from `clientPort` was accepted by a socket of the app's own uid. */
  async ownsConnection(clientPort: number): Promise<boolean> {
    if (!this.checksListener) return true;
    return (await this.opts.guests!.sockets.acceptedByUid(this.port!, clientPort)) === this.spec.user!.uid;
  }

  /**
   * In a guest, the port counts only when the listener a loopback connection
   * reaches is the app's own uid: another app that bound it while this one
   * was down is never sent this app's traffic.
   */
  async ownsPort(): Promise<boolean> {
    if (!this.checksListener) return true;
    return (await this.opts.guests!.sockets.listenerUid(this.port!)) === this.spec.user!.uid;
  }

  private async handleExit(child: ChildProcess, launched: Launched, code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    if (this.child !== child) return;
    clearTimeout(this.probeTimer);
    // At once: from now on its port may be anyone's, and the router must not send it traffic.
    if (!this.stopping) this.state = 'crashed';
    const uptime = Date.now() - this.startedAt;
    // Whatever it forked must not outlive it: a leftover child would hold the
    // port the restarted instance needs, or keep doing work nobody supervises.
    const { memoryKilled } = await launched.finish();
    this.child = undefined;
    this.reason = memoryKilled ? 'memory' : undefined;
    if (memoryKilled) {
      const mb = this.spec.limits?.memoryMb;
      this.logs.note(
        `Error R15 (Memory quota vastly exceeded): killed by its memory limit${mb ? ` of ${mb}M` : ''} (slipway ps:resize ${this.spec.app} ${this.spec.type}=SIZE)`,
      );
    }
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
    const launched = this.launched;
    if (child && launched && child.exitCode === null && child.signalCode === null) {
      this.state = 'stopping';
      this.logs.note('Stopping all processes with SIGTERM');
      const exited = this.exited ?? Promise.resolve();
      launched.terminate('SIGTERM');
      const grace = timer(graceMs);
      const gone = await Promise.race([exited.then(() => true), grace.promise]);
      grace.cancel();
      if (!gone) {
        this.logs.note(`Stopping all processes with SIGKILL after ${graceMs}ms`);
        launched.kill();
        await exited;
      }
    }
    // The exit handler ends what is left (the guest, or the process group); wait for it.
    if (launched) await launched.finish();
    if (child) {
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
