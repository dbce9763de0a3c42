import type Docker from 'dockerode';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { PassThrough } from 'node:stream';
import { randomUUID } from 'node:crypto';
import type { Driver, ExecRequest, Instance, InstanceSpec } from '../driver.js';
import { SlipwayError } from '../../errors.js';
import { ExitListeners, type ExitListener } from '../exit-listeners.js';
import { instanceId } from '../command.js';
import { LogWriter } from '../../logs/log-writer.js';
import { DEFAULT_PORTS, PortAllocator } from '../ports.js';
import {
  CONTAINER_PORT,
  containerName,
  instanceCreateOptions,
  instanceProgram,
  type Confined,
  type GuestOptions,
} from './container-spec.js';
import { Standbys, type Standby, type StandbyFit } from './standby.js';
import { releaseSlots } from '../../docker/slots.js';
import { LABEL, homeId } from '../../docker/labels.js';
import { STACK_IMAGE, imageExists, requireEngine } from '../../docker/engine.js';
import { execInContainer, runOneOff } from './exec.js';
import { DEFAULT_LIMITS, guestUser, ownScratch, removeGuest } from '../../docker/guest.js';
import { Confiner } from './confine.js';
import { IdentityFiles } from './identity.js';
import { applyEngineEvent, followEngineEvents, type EngineEvent, type Tracked } from './engine-events.js';

export interface DockerDriverOptions {
  docker: Docker;
  /** SLIPWAY_HOME: what this server owns in a shared engine is labelled with its `homeId`. */
  home: string;
  /** Default slipway/stack:bookworm. */
  image?: string;
  extraCaBundle?: string;
  portRange?: [number, number];
  log?: (msg: string) => void;
  /** How long an app's standby container waits for its next release (0 or absent: none; see standby.ts). */
  standbyKeepMs?: number;
}

const DEFAULT_GRACE_MS = 30_000;

/**
 * One container per instance, from the stack image (see container-spec.ts for
 * the guest's shape). The engine restarts crashed containers; the driver
 * follows them through the engine's event stream (`die`/`start`), so
 * `onExit`, `crashed` and `restarts` mean what they mean for the process driver.
 *
 * Containers outlive the daemon on purpose: `shutdown` detaches, and `adopt`
 * (at the next start) takes them back instead of starting duplicates.
 */
export class DockerDriver implements Driver {
  readonly name = 'docker';
  private readonly docker: Docker;
  private readonly guest: GuestOptions;
  private readonly ports: PortAllocator;
  private readonly log: (msg: string) => void;
  private readonly tracked = new Map<string, Tracked>();
  private readonly byContainer = new Map<string, string>();
  private readonly listeners: ExitListeners;
  /**
   * Running containers found at start, waiting for `start()` of their live
   * release to adopt them: by instance id, or by name for a standby that had
   * taken its instance's place (its labels are a standby's).
   */
  private readonly orphans = new Map<string, Docker.ContainerInfo>();
  private readonly standbys: Standbys;
  /** The last web instance started per app: what its standby is made for. */
  private readonly lastWeb = new Map<string, InstanceSpec>();
  /** Taken-over standbys being renamed as their instance. */
  private readonly renaming = new Set<Promise<void>>();
  private events?: Readable;
  private closed = false;
  private runs = 0;
  /** Where containers' /app upper layers live (`$SLIPWAY_HOME/run/docker/<container>`). */
  private readonly scratchRoot: string;
  private readonly confiner: Confiner;

  private constructor(opts: DockerDriverOptions) {
    this.docker = opts.docker;
    this.guest = { image: opts.image ?? STACK_IMAGE, home: homeId(opts.home), extraCaBundle: opts.extraCaBundle };
    this.ports = new PortAllocator({ range: opts.portRange ?? DEFAULT_PORTS.docker });
    this.log = opts.log ?? (() => undefined);
    this.listeners = new ExitListeners(this.log);
    this.scratchRoot = path.join(opts.home, 'run', 'docker');
    const identity = new IdentityFiles(this.docker, this.guest.image, this.guest.home, path.join(opts.home, 'run', 'identity'));
    this.confiner = new Confiner(this.guest.home, this.scratchRoot, identity);
    this.standbys = new Standbys({
      docker: this.docker,
      guest: this.guest,
      scratchRoot: this.scratchRoot,
      ports: this.ports,
      keepMs: opts.standbyKeepMs ?? 0,
      log: this.log,
      identity,
    });
  }

  /** Checks the engine and the stack image, follows events, and lists containers left by a previous daemon. */
  static async create(opts: DockerDriverOptions): Promise<DockerDriver> {
    const driver = new DockerDriver(opts);
    await requireEngine(opts.docker);
    if (!(await imageExists(opts.docker, driver.guest.image))) {
      throw new SlipwayError(
        'stack_missing',
        `the Docker stack image ${driver.guest.image} does not exist: build it once with \`slipway stack:build\``,
        { status: 503 },
      );
    }
    await driver.followEvents();
    const found = await opts.docker.listContainers({ all: true, filters: { label: [driver.ownLabel] } });
    for (const c of found) {
      const running = c.State === 'running';
      const id =
        c.Labels[LABEL.role] === 'standby'
          ? running && (await Standbys.takenBy(c.Id, c.Labels, driver.scratchRoot))
          : c.Labels[LABEL.role] === 'instance' && running && c.Labels[LABEL.instance];
      if (id) driver.orphans.set(id, c);
      // Stopped instances, one-offs and standbys that still waited, which a killed daemon never removed.
      else await removeGuest(opts.docker, c.Id, driver.scratchRoot).catch(() => undefined);
    }
    return driver;
  }

  /** The label filter for what this server owns; never touch anything without it. */
  private get ownLabel(): string {
    return `${LABEL.home}=${this.guest.home}`;
  }

  /**
   * An engine that stopped answering is the user's to start: its one clear
   * line (from requireEngine) says so, instead of a bare `connect ENOENT`.
   */
  private async engineDown(): Promise<SlipwayError | undefined> {
    return requireEngine(this.docker).then(
      () => undefined,
      (err: SlipwayError) => err,
    );
  }

  async start(spec: InstanceSpec): Promise<Instance> {
    const id = instanceId(spec);
    if (this.tracked.has(id))
      throw new SlipwayError('instance_exists', `${id} is already running`, {
        status: 409,
        hint: `stop ${id} first, or start another index`,
      });
    const name = containerName(spec, this.guest.home);
    const adopted = this.orphans.get(id);
    if (adopted) {
      this.orphans.delete(id);
      return this.adopt(spec, id, adopted);
    }
    const limits = spec.limits ?? DEFAULT_LIMITS;
    const stack = spec.type === 'web' && !spec.image;
    if (stack) this.lastWeb.set(spec.app, spec);
    let standby = stack ? await this.standbys.take(spec.app, this.fitOf(spec)) : undefined;
    const port = standby?.port ?? (spec.type === 'web' ? await this.ports.allocate() : undefined);
    const logs = new LogWriter({
      file: spec.logFile,
      name: `${spec.type}.${spec.index}`,
      mask: spec.mask,
      onError: (e) => this.log(`${id}: log: ${e.message}`),
    });
    const instance: Instance = {
      id,
      app: spec.app,
      release: spec.release,
      type: spec.type,
      index: spec.index,
      port,
      state: 'starting',
      restarts: 0,
      startedAt: Date.now(),
    };
    const entry: Tracked = { instance, containerId: '', logs, memoryMb: limits.memoryMb };
    this.tracked.set(id, entry);
    let confined: Confined | undefined;
    try {
      // A container of that name can only be a dead leftover (a live one would be tracked or adopted).
      const leftover = removeGuest(this.docker, name, this.scratchRoot).catch(() => undefined);
      if (standby && !(await this.takeOver(standby, spec, entry, name, leftover))) standby = undefined;
      if (!standby) {
        await leftover;
        confined = await this.confiner.confine({ ...spec, limits }, name);
        logs.note(`Starting container ${name} with command \`${spec.command}\``);
        const container = await this.docker.createContainer(instanceCreateOptions(spec, id, port, confined, this.guest));
        entry.containerId = container.id;
        if (confined.scratch) await ownScratch(confined.scratch, container.id);
        this.byContainer.set(container.id, id);
        await container.start();
      }
      await this.attachLogs(entry, Math.floor(Date.now() / 1000) - 1);
      entry.instance.state = 'up';
      this.log(`${id} started (container ${entry.containerId.slice(0, 12)}${port === undefined ? '' : `, port ${port}`})`);
      return { ...entry.instance };
    } catch (err) {
      this.tracked.delete(id);
      this.byContainer.delete(entry.containerId);
      void logs.close();
      await removeGuest(this.docker, entry.containerId || name, this.scratchRoot, confined && { scratch: confined.scratch }).catch(
        () => undefined,
      );
      if (port !== undefined) this.ports.release(port);
      const down = await this.engineDown();
      if (down) throw down;
      if (err instanceof SlipwayError) throw err;
      throw new SlipwayError('container_start_failed', `cannot start ${id}: ${(err as Error).message}`, {
        status: 500,
        hint: 'check `docker info` and that the stack image exists (`slipway stack:build`)',
        cause: err,
      });
    }
  }

  /**
   * The instance takes the app's standby container (see standby.ts), renamed
   * as its own. False, with the standby removed, when that fails before the
   * standby was handed anything that runs: the caller starts a container.
   */
  private async takeOver(standby: Standby, spec: InstanceSpec, entry: Tracked, name: string, leftover: Promise<void>): Promise<boolean> {
    try {
      await this.confiner.base({ ...spec, limits: spec.limits ?? DEFAULT_LIMITS });
      entry.logs.note(`Starting container ${name} (standby ${standby.name}) with command \`${spec.command}\``);
      await this.standbys.activate(standby, entry.instance.id, spec.releaseDir, instanceProgram(spec, standby.port, this.guest));
    } catch (err) {
      this.log(`${entry.instance.id}: standby ${standby.name} not used: ${(err as Error).message}`);
      // Its port stays with the instance, which starts cold on it.
      await removeGuest(this.docker, standby.containerId, this.scratchRoot, standby).catch(() => undefined);
      return false;
    }
    entry.containerId = standby.containerId;
    entry.envFile = Standbys.envFile(standby.scratch);
    this.byContainer.set(standby.containerId, entry.instance.id);
    // Off the deploy's path: the name is for people (a restarted daemon adopts it by the instance id
    // it was handed, see Standbys.takenBy); shutdown waits for it.
    const renamed = leftover
      .then(() => this.docker.getContainer(standby.containerId).rename({ name }))
      .catch((err: Error) => this.log(`${entry.instance.id}: cannot rename ${standby.name}: ${err.message}`))
      .finally(() => this.renaming.delete(renamed));
    this.renaming.add(renamed);
    return true;
  }

  private fitOf(spec: InstanceSpec): StandbyFit {
    return {
      user: guestUser(this.guest.home, spec.app, spec.user),
      limits: spec.limits ?? DEFAULT_LIMITS,
      dataDir: spec.dataDir,
    };
  }

  /**
   * After a deploy of `app`: a standby container for its next release's
   * first web instance, made for the last one started here, else for `first`
   * (a new app) (stack releases only, and only with `standbyKeepMs`).
   */
  prepareNext(app: string, first?: InstanceSpec): void {
    const spec = this.lastWeb.get(app) ?? first;
    if (!spec || this.closed) return;
    try {
      this.standbys.prepare(spec, this.fitOf(spec));
    } catch {
      // Only a head start: the next deploy starts its container as before.
    }
  }

  async stop(id: string, opts: { graceMs?: number } = {}): Promise<void> {
    const entry = this.tracked.get(id);
    if (!entry) return;
    entry.stopping ??= (async () => {
      entry.instance.state = 'stopping';
      entry.logs.note('Stopping container');
      const container = this.docker.getContainer(entry.containerId);
      await container.stop({ t: Math.ceil((opts.graceMs ?? DEFAULT_GRACE_MS) / 1000) }).catch(() => undefined);
      await removeGuest(this.docker, entry.containerId, this.scratchRoot).catch(() => undefined);
      entry.instance.state = 'stopped';
      entry.logs.note('State changed to stopped');
      entry.logStream?.destroy();
      void entry.logs.close();
      this.tracked.delete(id);
      this.byContainer.delete(entry.containerId);
      if (entry.instance.port !== undefined) this.ports.release(entry.instance.port);
      this.listeners.clear(id);
      this.log(`${id} stopped`);
    })();
    await entry.stopping;
  }

  instances(app?: string): Instance[] {
    const all = [...this.tracked.values()].map((t) => ({ ...t.instance }));
    return app === undefined ? all : all.filter((i) => i.app === app);
  }

  onExit(id: string, listener: ExitListener): () => void {
    return this.listeners.on(id, listener);
  }

  /** With an instance: `docker exec` in its container. Without: a one-off container of the release (`run.N`). */
  async exec(req: ExecRequest): Promise<number> {
    const entry = req.instanceId ? this.tracked.get(req.instanceId) : undefined;
    try {
      if (entry)
        return await execInContainer(
          this.docker,
          this.docker.getContainer(entry.containerId),
          req,
          `${entry.instance.type}.${entry.instance.index}`,
          entry.envFile ? await Standbys.readEnv(entry.envFile) : undefined,
        );
      const dyno = req.dyno ?? `run.${++this.runs}`;
      const name = `slipway-${this.guest.home}-${req.app}-${dyno.replace(/[^A-Za-z0-9_.-]/g, '-')}-${randomUUID().slice(0, 8)}`;
      const confined = await this.confiner.confine({ ...req, limits: req.limits ?? DEFAULT_LIMITS }, name);
      return await runOneOff(this.docker, req, { name, dyno, confined, scratchRoot: this.scratchRoot }, this.guest);
    } catch (err) {
      throw (await this.engineDown()) ?? err;
    }
  }

  /**
   * Release rotation pruned `release`: its leftover containers (exited
   * instances, one-offs) and its images go, unless a kept release runs from
   * the same image. Running instances are left alone; rotation never prunes a
   * release that should still run.
   */
  async removeRelease(app: string, release: number, opts: { keepImages?: string[] } = {}): Promise<void> {
    const label = [this.ownLabel, `${LABEL.app}=${app}`, `${LABEL.release}=${release}`];
    for (const c of await this.docker.listContainers({ all: true, filters: { label } })) {
      if (this.byContainer.has(c.Id)) continue;
      await removeGuest(this.docker, c.Id, this.scratchRoot);
      this.log(`${app} v${release}: removed container ${c.Names[0]?.slice(1) ?? c.Id.slice(0, 12)} (release pruned)`);
    }
    for (const image of await this.docker.listImages({ filters: { label: [...label, `${LABEL.role}=image`] } })) {
      if (opts.keepImages?.includes(image.Id)) continue;
      // By id with force: every tag of the release's image goes with it.
      await this.docker.getImage(image.Id).remove({ force: true });
      this.log(`${app} v${release}: removed image ${image.RepoTags?.[0] ?? image.Id.slice(7, 19)} (release pruned)`);
    }
  }

  /** Removes the containers no live release adopted; call once every live app has been started. */
  async sweep(): Promise<void> {
    for (const [id, c] of this.orphans) {
      this.log(`${id}: removing container ${c.Names[0]?.slice(1)} (no live release)`);
      await removeGuest(this.docker, c.Id, this.scratchRoot).catch(() => undefined);
    }
    this.orphans.clear();
  }

  /**
   * `apps:destroy`: every container, image and volume (the build cache) this
   * server made for the app. A new app of the same name starts from nothing.
   */
  async removeApp(app: string): Promise<void> {
    this.lastWeb.delete(app);
    await this.standbys.forget(app);
    for (const i of this.instances(app)) await this.stop(i.id, { graceMs: 1000 });
    const label = [this.ownLabel, `${LABEL.app}=${app}`];
    for (const c of await this.docker.listContainers({ all: true, filters: { label } }))
      await removeGuest(this.docker, c.Id, this.scratchRoot);
    for (const image of await this.docker.listImages({ filters: { label } })) {
      // Another app may run from it (a promotion of a Dockerfile app): the engine keeps it then.
      await this.docker
        .getImage(image.Id)
        .remove({ force: true })
        .catch((err: Error & { statusCode?: number }) => {
          if (err.statusCode !== 404) this.log(`${app}: image ${image.Id.slice(7, 19)} kept: ${err.message}`);
        });
    }
    for (const v of (await this.docker.listVolumes({ filters: { label } })).Volumes ?? [])
      await this.docker.getVolume(v.Name).remove({ force: true });
    this.log(`${app}: removed its containers, images and build cache`);
  }

  /** Detaches: containers keep serving while the daemon restarts, and are adopted on its next start. */
  async shutdown(): Promise<void> {
    this.closed = true;
    this.events?.destroy();
    // Standbys serve nothing yet: a restarted daemon would only remove them.
    await Promise.all([this.standbys.forget(), ...this.renaming]);
    await releaseSlots(this.guest.home).catch(() => undefined);
    for (const entry of this.tracked.values()) {
      entry.logStream?.destroy();
      void entry.logs.close();
    }
    this.tracked.clear();
  }

  private async adopt(spec: InstanceSpec, id: string, c: Docker.ContainerInfo): Promise<Instance> {
    const port = c.Ports.find((p) => p.PrivatePort === CONTAINER_PORT && p.PublicPort)?.PublicPort;
    // The engine's proxy holds the host port, so the allocator's probe already sees it taken.
    const info = await this.docker.getContainer(c.Id).inspect();
    const logs = new LogWriter({
      file: spec.logFile,
      name: `${spec.type}.${spec.index}`,
      mask: spec.mask,
      onError: (e) => this.log(`${id}: log: ${e.message}`),
    });
    const entry: Tracked = {
      instance: {
        id,
        app: spec.app,
        release: spec.release,
        type: spec.type,
        index: spec.index,
        port,
        state: 'up',
        restarts: info.RestartCount ?? 0,
        startedAt: Date.parse(info.State.StartedAt),
      },
      containerId: c.Id,
      envFile: c.Labels[LABEL.role] === 'standby' && c.Labels[LABEL.scratch] ? Standbys.envFile(c.Labels[LABEL.scratch]) : undefined,
      logs,
      memoryMb: Math.round((info.HostConfig.Memory ?? 0) / 1024 / 1024) || (spec.limits ?? DEFAULT_LIMITS).memoryMb,
    };
    this.tracked.set(id, entry);
    this.byContainer.set(c.Id, id);
    await this.attachLogs(entry, Math.floor(Date.now() / 1000));
    logs.note(`Adopted running container ${c.Id.slice(0, 12)}`);
    this.log(`${id} adopted (container ${c.Id.slice(0, 12)}${port === undefined ? '' : `, port ${port}`})`);
    return { ...entry.instance };
  }

  /** Follows the container's output from `since` (unix seconds) until it stops; re-attached on every restart. */
  private async attachLogs(entry: Tracked, since: number): Promise<void> {
    entry.logStream?.destroy();
    const stream = (await this.docker
      .getContainer(entry.containerId)
      .logs({ follow: true, stdout: true, stderr: true, since })) as unknown as Readable;
    const out = new PassThrough();
    const err = new PassThrough();
    this.docker.modem.demuxStream(stream, out, err);
    stream.on('end', () => {
      out.end();
      err.end();
    });
    stream.on('error', () => undefined);
    entry.logs.attach(out);
    entry.logs.attach(err);
    entry.logStream = stream;
  }

  private async followEvents(): Promise<void> {
    // Not by role: an instance's container may have begun as a standby (labels are fixed at creation).
    // Containers that are no instance's are not in byContainer, and onEvent passes over them.
    this.events = await followEngineEvents(this.docker, [this.ownLabel], {
      onEvent: (ev) => this.onEvent(ev),
      closed: () => this.closed,
      log: this.log,
      follow: () => this.followEvents(),
    });
  }

  private onEvent(ev: EngineEvent): void {
    const id = this.byContainer.get(ev.id ?? ev.Actor?.ID ?? '');
    const entry = id ? this.tracked.get(id) : undefined;
    if (!id || !entry) return;
    applyEngineEvent(entry, ev, {
      exited: (code) => this.listeners.emit(id, code, null),
      restarted: () => void this.attachLogs(entry, Math.floor(Date.now() / 1000) - 1).catch(() => undefined),
    });
  }
}
