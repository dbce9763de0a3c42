import type { App, Store } from '../store/index.js';
import type { Driver, ExecRequest, Instance, InstanceSpec } from './driver.js';
import type { ExitListener } from './exit-listeners.js';
import { DRIVERS, driverFor, type DriverKind } from './kinds.js';

export interface DriverMultiplexerOptions {
  store: Store;
  /** The server's `--driver`: created at once, so a missing engine stops `slipway server` before it listens. */
  serverDefault: DriverKind;
  /**
   * An app's own `driver` setting, typed (undefined: the server's default).
   * The daemon passes apps/settings.ts's reader down: the runtime sits below
   * apps/ and never reads the stored settings itself.
   */
  appDriver: (app: App) => DriverKind | undefined;
  /** Makes one driver; called at most once per kind at a time, and again after a failure. */
  create: (kind: DriverKind) => Promise<Driver>;
  log?: (msg: string) => void;
}

/**
 * The one Driver the daemon hands to the pipeline and commands. It answers
 * for several drivers at once, since each app picks its own (`apps:set APP
 * driver=docker`): a new instance goes to the driver of its app's kind, and
 * everything about an existing instance (stop, exec, exit) goes to whichever
 * driver holds it. So switching an app's driver applies at its next deploy:
 * the new release starts on the new driver, the old one stops on the old.
 *
 * Drivers other than the server default are created on first use, so a
 * process-only server never needs dockerd, and an engine that is missing at
 * that moment fails that deploy (its one clear line) and nothing else.
 */
export class DriverMultiplexer implements Driver {
  readonly name = 'multiplexer';
  private readonly ready = new Map<DriverKind, Driver>();
  private readonly pending = new Map<DriverKind, Promise<Driver>>();

  private constructor(private readonly opts: DriverMultiplexerOptions) {}

  static async create(opts: DriverMultiplexerOptions): Promise<DriverMultiplexer> {
    const mux = new DriverMultiplexer(opts);
    await mux.driver(opts.serverDefault);
    return mux;
  }

  /** The driver of one kind, created on first use; a failed creation is retried on the next use. */
  driver(kind: DriverKind): Promise<Driver> {
    const ready = this.ready.get(kind);
    if (ready) return Promise.resolve(ready);
    let pending = this.pending.get(kind);
    if (!pending) {
      pending = this.opts.create(kind).then(
        (d) => {
          this.ready.set(kind, d);
          this.pending.delete(kind);
          if (kind !== this.opts.serverDefault) this.opts.log?.(`${kind} driver started (first app that runs on it)`);
          return d;
        },
        (err: unknown) => {
          this.pending.delete(kind);
          throw err;
        },
      );
      this.pending.set(kind, pending);
    }
    return pending;
  }

  /**
   * The kind a release runs on: fixed at its first start from the app's
   * `driver` setting (else the server's), so a setting changed since then
   * applies at the next deploy, not when the daemon restarts the live release.
   */
  kindOf(app: string, version: number): DriverKind {
    const { store, serverDefault } = this.opts;
    const found = store.apps.byName(app);
    if (!found) return serverDefault;
    const release = store.releases.get(found.id, version);
    if ((DRIVERS as readonly string[]).includes(release?.driver ?? '')) return release!.driver as DriverKind;
    const kind = driverFor(this.opts.appDriver(found), serverDefault);
    if (release) store.releases.setDriver(release.id, kind);
    return kind;
  }

  async start(spec: InstanceSpec): Promise<Instance> {
    return (await this.driver(this.kindOf(spec.app, spec.release))).start(spec);
  }

  async stop(id: string, opts?: { graceMs?: number }): Promise<void> {
    await this.holder(id)?.stop(id, opts);
  }

  instances(app?: string): Instance[] {
    return [...this.ready.values()].flatMap((d) => d.instances(app));
  }

  onExit(id: string, listener: ExitListener): () => void {
    // Before the instance exists nobody holds it; only the driver that starts it will ever call.
    const drivers = [this.holder(id) ?? [...this.ready.values()]].flat();
    const offs = drivers.map((d) => d.onExit(id, listener));
    return () => offs.forEach((off) => off());
  }

  /**
   * `enter APP web.1` goes to the driver holding web.1; `run` and the release
   * phase to the driver running that release, else to the release's kind.
   */
  async exec(req: ExecRequest): Promise<number> {
    const byInstance = req.instanceId ? this.holder(req.instanceId) : undefined;
    const byRelease = [...this.ready.values()].find((d) => d.instances(req.app).some((i) => i.release === req.release));
    return (byInstance ?? byRelease ?? (await this.driver(this.kindOf(req.app, req.release)))).exec(req);
  }

  /** Every driver that may have run the release; one not started on this run of the daemon has nothing of it to hold. */
  async removeRelease(app: string, release: number, opts?: { keepImages?: string[] }): Promise<void> {
    for (const d of this.ready.values()) await d.removeRelease?.(app, release, opts);
  }

  serves(id: string): boolean | undefined {
    for (const d of this.ready.values()) {
      const answer = d.serves?.(id);
      if (answer !== undefined) return answer;
    }
    return undefined;
  }

  ownsConnection(port: number, clientPort: number): Promise<boolean> | undefined {
    for (const d of this.ready.values()) {
      const answer = d.ownsConnection?.(port, clientPort);
      if (answer !== undefined) return answer;
    }
    return undefined;
  }

  async confirmUp(id: string): Promise<boolean | undefined> {
    for (const d of this.ready.values()) {
      const answer = await d.confirmUp?.(id);
      if (answer !== undefined) return answer;
    }
    return undefined;
  }

  /**
   * `apps:destroy`: every driver that holds something of the app. The docker
   * driver is started for it when the app ever ran or built there, so its
   * images and build cache go even after a daemon restart left it unstarted.
   */
  async removeApp(app: string): Promise<void> {
    const found = this.opts.store.apps.byName(app);
    const usedDocker =
      !!found &&
      (driverFor(this.opts.appDriver(found), this.opts.serverDefault) === 'docker' ||
        this.opts.store.releases.list(found.id).some((r) => r.driver === 'docker' || r.image));
    if (usedDocker) await this.driver('docker');
    for (const d of this.ready.values()) await d.removeApp?.(app);
  }

  /**
   * To the driver the app's next release will start on, if it runs already;
   * for a first release (`first`: an app just created or switched to it), the
   * docker driver is started as its deploy would start it (an engine that
   * does not answer is the deploy's to report).
   */
  prepareNext(app: string, first?: InstanceSpec): void {
    const found = this.opts.store.apps.byName(app);
    if (!found) return;
    const kind = driverFor(this.opts.appDriver(found), this.opts.serverDefault);
    const ready = this.ready.get(kind);
    // Only the docker driver gets anything ready ahead (a standby): no other is started early for nothing.
    if (ready || !first || kind !== 'docker') return ready?.prepareNext?.(app, first);
    this.driver(kind)
      .then((d) => {
        // Destroyed (or made again) while the driver started: nothing is made for it.
        if (this.opts.store.apps.byName(app)?.id === found.id) d.prepareNext?.(app, first);
      })
      .catch(() => undefined);
  }

  async sweep(): Promise<void> {
    for (const d of this.ready.values()) await d.sweep?.();
  }

  async shutdown(opts?: { graceMs?: number }): Promise<void> {
    await Promise.allSettled([...this.pending.values()]);
    await Promise.all([...this.ready.values()].map((d) => d.shutdown(opts)));
  }

  private holder(id: string): Driver | undefined {
    return [...this.ready.values()].find((d) => d.instances().some((i) => i.id === id));
  }
}
