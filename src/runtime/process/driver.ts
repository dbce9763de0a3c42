import fs from 'node:fs/promises';
import type { ExecRequest, Driver, Instance, InstanceSpec } from '../driver.js';
import { startRefused } from '../../crash-point.js';
import { SlipwayError } from '../../errors.js';
import type { GuestHost } from '../../guest/host.js';
import { ownTree } from '../../guest/ownership.js';
import { findPython } from '../pty/spawn-pty.js';
import { instanceId } from '../command.js';
import { runExec } from './exec.js';
import { ExitListeners, type ExitListener } from '../exit-listeners.js';
import { PidFiles } from './pidfiles.js';
import { DEFAULT_PORTS, PortAllocator } from '../ports.js';
import { Supervisor, type RestartPolicy } from './supervisor.js';

export interface ProcessDriverOptions {
  /** Inclusive range web instances get their loopback port from. Default 20000–24999 (see DEFAULT_PORTS). */
  portRange?: [number, number];
  /** Backoff between restarts of a crashed instance. Defaults: 1s doubling to 30s, reset after 60s up. */
  restart?: Partial<RestartPolicy>;
  /** Operator-facing messages (crashes, restarts, failures); default: discarded. */
  log?: (msg: string) => void;
  /** PATH given to apps; default the daemon's own. */
  path?: string;
  /** Finds the Python 3 that runs the pty relay for `exec` with a terminal; default `python3` on the daemon's PATH. */
  python?: () => Promise<string>;
  /** After an aborted `exec`, how long the process gets to end before SIGKILL. Default 5s. */
  execGraceMs?: number;
  /**
   * Directory for pid files. When set, instances left running by a daemon that
   * died without shutting down are killed when this driver is created.
   */
  stateDir?: string;
  /**
   * Makes guests (see src/guest/): every instance and one-off runs sandboxed
   * as its app's own user. Absent only on a server that cannot (not root),
   * which says so at start.
   */
  guests?: GuestHost;
}

const DEFAULT_RESTART: RestartPolicy = { initialMs: 1000, maxMs: 30_000, resetAfterMs: 60_000 };
const DEFAULT_GRACE_MS = 30_000;

/**
 * The embedded default driver (Piku's model): every instance is a supervised
 * child process group on this host, web instances listen on a loopback port
 * the router forwards to. Releases stay apart because each instance runs in its
 * own unpacked release directory with its own environment.
 *
 * Instances do not survive the daemon: they are started detached (for group
 * signalling), so `shutdown` must run on the way out.
 */
export class ProcessDriver implements Driver {
  readonly name = 'process';
  private readonly supervisors = new Map<string, Supervisor>();
  /** Ids being started, so a concurrent second start of the same id is refused. */
  private readonly starting = new Set<string>();
  private readonly listeners: ExitListeners;
  private readonly ports: PortAllocator;
  private readonly restart: RestartPolicy;
  private readonly log: (msg: string) => void;
  private readonly path?: string;
  private readonly python: () => Promise<string>;
  private readonly execGraceMs?: number;
  private readonly pidFiles?: PidFiles;
  private readonly guests?: GuestHost;
  /** One-off processes started so far; numbers DYNO=run.N. */
  private runs = 0;
  /** Running one-off processes: shutdown ends them like instances, they are detached too. */
  private readonly execs = new Map<Promise<number>, AbortController>();

  constructor(opts: ProcessDriverOptions = {}) {
    this.ports = new PortAllocator({ range: opts.portRange ?? DEFAULT_PORTS.process });
    this.restart = { ...DEFAULT_RESTART, ...opts.restart };
    this.log = opts.log ?? (() => undefined);
    this.listeners = new ExitListeners(this.log);
    this.path = opts.path;
    this.python = opts.python ?? findPython;
    this.execGraceMs = opts.execGraceMs;
    this.guests = opts.guests;
    if (opts.stateDir) {
      this.pidFiles = new PidFiles(opts.stateDir);
      this.pidFiles.reapOrphans(this.log);
    }
  }

  async start(spec: InstanceSpec): Promise<Instance> {
    const id = instanceId(spec);
    if (spec.image) throw needsDocker(spec.app, spec.release);
    if (this.supervisors.has(id) || this.starting.has(id)) {
      throw new SlipwayError('instance_exists', `${id} is already running`, {
        status: 409,
        hint: `stop ${id} first, or start another index`,
      });
    }
    if (startRefused(id))
      throw new SlipwayError('process_start_failed', `cannot start ${id}: refused by SLIPWAY_TEST_REFUSE_START`, { status: 500 });
    this.starting.add(id);
    let port: number | undefined;
    try {
      await checkReleaseDir(spec);
      await this.giveToApp(spec);
      port = spec.type === 'web' ? await this.ports.allocate() : undefined;
      const supervisor = new Supervisor({
        id,
        spec,
        port,
        restart: this.restart,
        path: this.path,
        log: this.log,
        onExit: (code, signal) => this.emitExit(id, code, signal),
        pidFiles: this.pidFiles,
        guests: this.guests,
      });
      // Listed while spawning, so instances() shows it and stop() can reach it.
      this.supervisors.set(id, supervisor);
      try {
        await supervisor.start();
      } catch (err) {
        this.supervisors.delete(id);
        await supervisor.stop(0);
        throw new SlipwayError('process_start_failed', `cannot start ${id}: ${(err as Error).message}`, {
          status: 500,
          hint: 'check that bash is on the daemon PATH and the release directory is readable',
          cause: err,
        });
      }
      this.log(`${id} started (pid ${supervisor.snapshot().pid}${port === undefined ? '' : `, port ${port}`})`);
      return supervisor.snapshot();
    } catch (err) {
      if (port !== undefined) this.ports.release(port);
      throw err;
    } finally {
      this.starting.delete(id);
    }
  }

  async stop(id: string, opts: { graceMs?: number } = {}): Promise<void> {
    const supervisor = this.supervisors.get(id);
    if (!supervisor) return;
    await supervisor.stop(opts.graceMs ?? DEFAULT_GRACE_MS);
    // Only the first of several concurrent stops cleans up.
    if (this.supervisors.get(id) !== supervisor) return;
    this.supervisors.delete(id);
    if (supervisor.port !== undefined) this.ports.release(supervisor.port);
    // A stopped instance exits no more; its listeners would only leak.
    this.listeners.clear(id);
    this.log(`${id} stopped`);
  }

  serves(id: string): boolean | undefined {
    return this.supervisors.get(id)?.serves();
  }

  async confirmUp(id: string): Promise<boolean | undefined> {
    return this.supervisors.get(id)?.confirmUp();
  }

  ownsConnection(port: number, clientPort: number): Promise<boolean> | undefined {
    for (const s of this.supervisors.values()) if (s.port === port) return s.ownsConnection(clientPort);
    return undefined;
  }

  instances(app?: string): Instance[] {
    const all = [...this.supervisors.values()].map((s) => s.snapshot());
    return app === undefined ? all : all.filter((i) => i.app === app);
  }

  /**
   * `listener` runs on every exit of instance `id` (crashes and the final
   * stop alike) until unsubscribed or the instance is stopped. It may be
   * registered before `start`, so activation can watch from the first spawn.
   */
  onExit(id: string, listener: ExitListener): () => void {
    return this.listeners.on(id, listener);
  }

  /**
   * A one-off process beside the app's instances (`run`, `enter`), numbered
   * like Heroku's one-off dynos: DYNO=run.1, run.2 … With `instanceId` it
   * joins that instance's running guest (its /app writes, its processes);
   * otherwise it gets a fresh guest of the release.
   */
  exec(req: ExecRequest): Promise<number> {
    if (req.image) return Promise.reject(needsDocker(req.app, req.release));
    const abort = new AbortController();
    const signal = req.signal ? AbortSignal.any([req.signal, abort.signal]) : abort.signal;
    const run = this.giveToApp(req).then(() =>
      runExec(
        { ...req, signal },
        { index: ++this.runs, path: this.path, python: this.python, killGraceMs: this.execGraceMs, guests: this.guests },
      ),
    );
    this.execs.set(run, abort);
    const forget = () => this.execs.delete(run);
    run.then(forget, forget);
    return run;
  }

  async shutdown(opts: { graceMs?: number } = {}): Promise<void> {
    for (const abort of this.execs.values()) abort.abort();
    await Promise.all([...this.supervisors.keys()].map((id) => this.stop(id, opts)));
    await Promise.allSettled(this.execs.keys());
  }

  /**
   * A guest's /app and /data are its user's: the release (unpacked or built by
   * the daemon) and the data dir change hands once, the first time.
   */
  private async giveToApp(spec: Pick<InstanceSpec, 'releaseDir' | 'dataDir' | 'user'> & Pick<ExecRequest, 'mounts'>): Promise<void> {
    if (!this.guests || !spec.user) return;
    await fs.mkdir(spec.dataDir, { recursive: true });
    await ownTree(spec.releaseDir, spec.user, { ifNeeded: true });
    await ownTree(spec.dataDir, spec.user, { ifNeeded: true });
    await fs.chmod(spec.dataDir, 0o700);
    // A writable mount (the archive stage's snapshot dir) is the guest's to write; only its top, which the daemon made.
    for (const m of spec.mounts ?? []) if (!m.readOnly) await fs.chown(m.path, spec.user.uid, spec.user.gid);
  }

  private emitExit(id: string, code: number | null, signal: string | null): void {
    this.listeners.emit(id, code, signal);
  }
}

/** Spawn reports a missing cwd as "spawn bash ENOENT"; say what is really wrong. */
async function checkReleaseDir(spec: InstanceSpec): Promise<void> {
  const stat = await fs.stat(spec.releaseDir).catch(() => undefined);
  if (!stat?.isDirectory()) {
    throw new SlipwayError('release_dir_missing', `release directory ${spec.releaseDir} does not exist`, {
      status: 500,
      hint: `unpack release v${spec.release} of ${spec.app} before starting it`,
    });
  }
}

/** A Dockerfile release is an image: only a driver with guests can run it. */
function needsDocker(app: string, release: number): SlipwayError {
  return new SlipwayError('needs_docker', `${app} v${release} is a Dockerfile app's image and cannot run as host processes`, {
    status: 409,
    hint: `run it with the docker driver: slipway apps:set ${app} driver=docker`,
  });
}
