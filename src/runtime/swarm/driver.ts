import type Docker from 'dockerode';
import type { Readable } from 'node:stream';
import { LogWriter } from '../../logs/log-writer.js';
import type { Driver, ExecRequest, Instance, InstanceSpec } from '../driver.js';
import { SlipwayError } from '../../errors.js';
import { ExitListeners, type ExitListener } from '../exit-listeners.js';
import { instanceId } from '../command.js';
import { isPortOpen } from '../ports.js';
import { homeId } from '../../docker/labels.js';
import { DEFAULT_LIMITS, guestUser } from '../../docker/guest.js';
import { requireEngine } from '../../docker/engine.js';
import { execInContainer } from '../docker/exec.js';
import { DockerDriver } from '../docker/driver.js';
import { ReleaseImages, releaseImageRef } from './release-image.js';
import { TASK_LABEL, constraintsFor, serviceName, serviceSpec } from './service-spec.js';
import { followTaskLogs } from './task-logs.js';
import { inspectService, removeAppServices, removeService, setReplicas } from './services.js';
import { awaitEnded, awaitSlot, oomKilled, runningTasks, type FailedTask, type TaskView } from './tasks.js';

export interface SwarmDriverOptions {
  /** The Swarm manager's engine (the server's own). */
  docker: Docker;
  home: string;
  /**
   * `HOST:PORT` of the registry the nodes pull release images from (or where
   * to find it when asked: the one `registry:start` runs); without one no app runs here.
   */
  registry?: string | (() => string | undefined);
  extraCaBundle?: string;
  log?: (msg: string) => void;
  /** A node's own engine by Swarm node ID (the hosts registry's credentials): `enter` and logs go there. */
  nodeEngine?: (nodeId: string) => Docker | undefined;
  /** An instance's task moved (another node or port, or gone): the daemon routes the app again. */
  onMoved?: (app: string) => void;
  /** How often tasks are read to follow them (default 500 ms: well inside service-spec.ts's DRAIN_S). */
  pollMs?: number;
  /** How long a task's app has after SIGTERM (the server's --stop-grace; default 30 s). */
  stopGraceMs?: number;
  /** How long a new task may take to run, image pull included (default 180 s). */
  startTimeoutMs?: number;
}

interface Tracked {
  instance: Instance;
  service: string;
  slot: number;
  /** Its memory limit, for the R15 line when the kernel kills it there. */
  memoryMb: number;
  taskId?: string;
  nodeId?: string;
  stopping?: boolean;
  /** The replacing task being waited for (see admit). */
  checking?: string;
  logs: LogWriter;
  logStream?: Readable;
}

const DEFAULT_GRACE_MS = 30_000;

/**
 * Runs each app's processes as Swarm services over the hosts (see
 * service-spec.ts for the shape). Instance web.N is the task in slot N of the
 * release's web service; it is reached at its node's address and the port
 * Swarm published for it there. Tasks are read every `pollMs`, so when Swarm
 * moves one (a drained host, a lost node) the instance follows it and the
 * daemon re-routes. One-offs (`run`, the release phase) are containers on the
 * manager's engine, as under the docker driver; `enter APP web.1` execs in that
 * task's container through its node's engine.
 */
export class SwarmDriver implements Driver {
  readonly name = 'swarm';
  private readonly tracked = new Map<string, Tracked>();
  private readonly listeners: ExitListeners;
  private readonly images: ReleaseImages;
  /** Service updates one at a time per service: scale-ups of web.1, web.2 … must not race. */
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly log: (msg: string) => void;
  /** Tasks of instances stopped one by one: their slot's next task is another instance. */
  private readonly retired = new Set<string>();
  private readonly home: string;
  private timer?: NodeJS.Timeout;
  private polling = false;

  private constructor(
    private readonly opts: SwarmDriverOptions,
    private readonly local: DockerDriver,
  ) {
    this.log = opts.log ?? (() => undefined);
    this.home = homeId(opts.home);
    // The local docker driver's home (see create): it removes a probe left by a killed daemon.
    this.images = new ReleaseImages(homeId(`${opts.home}/swarm`));
    this.listeners = new ExitListeners(this.log);
  }

  static async create(opts: SwarmDriverOptions): Promise<SwarmDriver> {
    await requireEngine(opts.docker);
    const info = (await opts.docker.info()) as { Swarm?: { ControlAvailable?: boolean } };
    if (!info.Swarm?.ControlAvailable)
      throw new SlipwayError('swarm_missing', "the server's Docker engine is not a Swarm manager", {
        status: 503,
        hint: 'run `slipway swarm:init` (or `slipway hosts:add`) first',
      });
    // One-offs run as the docker driver runs them, under a home of their own so neither driver sweeps the other's.
    const local = await DockerDriver.create({
      docker: opts.docker,
      home: `${opts.home}/swarm`,
      extraCaBundle: opts.extraCaBundle,
      log: opts.log,
    });
    const driver = new SwarmDriver(opts, local);
    driver.timer = setInterval(() => void driver.poll(), opts.pollMs ?? 500);
    driver.timer.unref();
    return driver;
  }

  async start(spec: InstanceSpec): Promise<Instance> {
    const id = instanceId(spec);
    if (this.tracked.has(id))
      throw new SlipwayError('instance_exists', `${id} is already running`, { status: 409, hint: `stop ${id} first` });
    const registry = this.registry();
    if (!registry)
      throw new SlipwayError('registry_missing', `${spec.app} runs on the swarm driver, but this server has no registry for its images`, {
        status: 422,
        hint: 'start the server with --registry HOST:PORT (a registry every host can pull from), or run `slipway registry:start`',
      });
    const user = guestUser(this.opts.home, spec.app, spec.user);
    const image = await this.imageOf(spec, registry, user);
    const service = serviceName(spec.app, spec.release, spec.type);
    const logs = new LogWriter({
      file: spec.logFile,
      name: `${spec.type}.${spec.index}`,
      mask: spec.mask,
      onError: (e) => this.log(`${id}: log: ${e.message}`),
    });
    const entry: Tracked = {
      service,
      logs,
      slot: spec.index,
      memoryMb: (spec.limits ?? DEFAULT_LIMITS).memoryMb,
      instance: {
        id,
        app: spec.app,
        release: spec.release,
        type: spec.type,
        index: spec.index,
        state: 'starting',
        restarts: 0,
        startedAt: Date.now(),
      },
    };
    this.tracked.set(id, entry);
    try {
      await this.serialized(service, async () => {
        const existing = await inspectService(this.opts.docker, service);
        if (!existing) {
          const constraints = await constraintsFor(this.opts.docker, spec);
          await this.opts.docker.createService(
            serviceSpec({
              spec,
              image,
              user,
              replicas: spec.index,
              constraints,
              home: this.home,
              graceMs: this.opts.stopGraceMs ?? DEFAULT_GRACE_MS,
            }),
          );
          this.log(`${service}: service created (${image}${constraints.length ? `, ${constraints.join(', ')}` : ''})`);
        } else if ((existing.Spec?.Mode?.Replicated?.Replicas ?? 0) < spec.index) {
          await setReplicas(this.opts.docker, service, spec.index);
        }
      });
      const task = await awaitSlot(this.opts.docker, {
        service,
        slot: spec.index,
        id,
        web: spec.type === 'web',
        skip: this.retired,
        timeoutMs: this.opts.startTimeoutMs ?? 180_000,
      });
      this.follow(entry, task);
      entry.instance.state = 'up';
      this.log(`${id} runs on ${task.node} (${task.address}${task.port ? `:${task.port}` : ''})`);
      return { ...entry.instance };
    } catch (err) {
      this.tracked.delete(id);
      void logs.close();
      if (err instanceof SlipwayError) throw err;
      throw new SlipwayError('container_start_failed', `cannot start ${id} on the Swarm: ${(err as Error).message}`, {
        status: 500,
        hint: 'check the hosts with `slipway hosts` and the registry the hosts pull from',
        cause: err,
      });
    }
  }

  async stop(id: string, opts: { graceMs?: number } = {}): Promise<void> {
    const entry = this.tracked.get(id);
    if (!entry || entry.stopping) return;
    entry.stopping = true;
    entry.instance.state = 'stopping';
    // Stops of a whole release come together (Promise.all): let the others mark themselves first.
    await new Promise((r) => setImmediate(r));
    const others = [...this.tracked.values()].filter((t) => t.service === entry.service && !t.stopping);
    const left = others.length;
    // Swarm stops a task with the service's grace (and the drain wrapper's DRAIN_S first), whatever this stop asked.
    const waitMs = Math.max(opts.graceMs ?? DEFAULT_GRACE_MS, this.opts.stopGraceMs ?? DEFAULT_GRACE_MS) + 10_000;
    await this.serialized(entry.service, async () => {
      if (left === 0) {
        await removeService(this.opts.docker, entry.service, waitMs);
        this.log(`${entry.service}: service removed`);
        return;
      }
      if (others.some((t) => t.slot > entry.slot) && (await this.stopTask(entry, opts.graceMs ?? DEFAULT_GRACE_MS))) {
        // Not the highest slot: scaling down would take another instance's task, so this one's
        // container stops and Swarm starts a fresh task in its slot (a restart's replacement).
      } else {
        await setReplicas(this.opts.docker, entry.service, left);
      }
      if (entry.taskId) await awaitEnded(this.opts.docker, { taskId: entry.taskId }, waitMs);
    });
    this.tracked.delete(id);
    this.listeners.clear(id);
    entry.logStream?.destroy();
    entry.logs.note('State changed to stopped');
    void entry.logs.close();
  }

  instances(app?: string): Instance[] {
    const all = [...this.tracked.values()].map((t) => ({ ...t.instance }));
    return app === undefined ? all : all.filter((i) => i.app === app);
  }

  onExit(id: string, listener: ExitListener): () => void {
    return this.listeners.on(id, listener);
  }

  /** `enter APP web.1`: an exec in that task's container, through its node's engine; one-offs: a container on the manager. */
  async exec(req: ExecRequest): Promise<number> {
    const entry = req.instanceId ? this.tracked.get(req.instanceId) : undefined;
    if (!entry) return this.local.exec(req);
    const engine = this.engineOf(entry.nodeId);
    if (!engine)
      throw new SlipwayError(
        'host_unreachable',
        `${req.instanceId} runs on ${entry.instance.node ?? 'a node'}, whose engine is not a recorded host`,
        {
          status: 409,
          hint: 'add that engine with `slipway hosts:add NAME --engine …`',
        },
      );
    const [found] = await engine.listContainers({ filters: { label: [`${TASK_LABEL}=${entry.taskId}`] } });
    if (!found) throw new SlipwayError('instance_not_found', `${req.instanceId} has no running container right now`, { status: 409 });
    return execInContainer(engine, engine.getContainer(found.Id), req, `${entry.instance.type}.${entry.instance.index}`);
  }

  serves(id: string): boolean | undefined {
    const entry = this.tracked.get(id);
    return entry ? entry.instance.state === 'up' : undefined;
  }

  async removeRelease(app: string, release: number, opts: { keepImages?: string[] } = {}): Promise<void> {
    await this.local.removeRelease(app, release, opts);
    // The tag only: a later release (a rollback) may run from the same image under its own tag.
    const registry = this.registry();
    if (registry)
      await this.opts.docker
        .getImage(releaseImageRef(registry, app, release))
        .remove()
        .catch(() => undefined);
  }

  async removeApp(app: string): Promise<void> {
    for (const i of this.instances(app)) await this.stop(i.id, { graceMs: 1000 });
    await removeAppServices(this.opts.docker, this.home, app);
    await this.local.removeApp(app);
  }

  /** Services outlive the daemon: it stops following them, and its next start takes their tasks back. */
  async shutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    for (const entry of this.tracked.values()) {
      entry.logStream?.destroy();
      void entry.logs.close();
    }
    this.tracked.clear();
    await this.local.shutdown();
  }

  private registry(): string | undefined {
    const r = this.opts.registry;
    return typeof r === 'function' ? r() : r;
  }

  private engineOf(nodeId: string | undefined): Docker | undefined {
    return nodeId ? this.opts.nodeEngine?.(nodeId) : undefined;
  }

  private imageOf(spec: InstanceSpec, registry: string, user: { uid: number; gid: number }): Promise<string> {
    const { app, release, releaseDir, image } = spec;
    const log = (l: string) => this.log(`${app} v${release}: ${l}`);
    return this.images.of({ docker: this.opts.docker, registry, app, release, releaseDir, image, user, home: this.home, log });
  }

  private serialized<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const run = (this.queues.get(key) ?? Promise.resolve()).then(fn, fn);
    this.queues.set(
      key,
      run.catch(() => undefined),
    );
    return run;
  }

  /** Stops the container of the instance's task through its node's engine; false when that engine is not a recorded host. */
  private async stopTask(entry: Tracked, graceMs: number): Promise<boolean> {
    const engine = this.engineOf(entry.nodeId);
    if (!engine || !entry.taskId) return false;
    this.retired.add(entry.taskId);
    const [found] = await engine.listContainers({ filters: { label: [`${TASK_LABEL}=${entry.taskId}`] } });
    if (found)
      await engine
        .getContainer(found.Id)
        .stop({ t: Math.ceil(graceMs / 1000) })
        .catch(() => undefined);
    return true;
  }

  private async attachLogs(entry: Tracked, taskId: string): Promise<void> {
    entry.logStream?.destroy();
    entry.logStream = await followTaskLogs(this.opts.docker, taskId, entry.logs);
  }

  /**
   * A task that replaced an instance's (a move, a restart) is routed to only
   * once something listens on its port: a running container is not yet an
   * app that answers.
   */
  private async admit(entry: Tracked, task: TaskView): Promise<void> {
    entry.checking = task.id;
    const deadline = Date.now() + 120_000;
    const web = entry.instance.type === 'web' && task.port;
    while (web && !(await isPortOpen(task.port!, task.address, 1000))) {
      if (Date.now() > deadline || entry.stopping || entry.checking !== task.id || !this.tracked.has(entry.instance.id)) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    if (entry.checking !== task.id || entry.stopping) return;
    entry.checking = undefined;
    this.log(`${entry.instance.id} moved to ${task.node} (${task.address}:${task.port ?? '-'})`);
    this.follow(entry, task);
    entry.instance.restarts++;
    entry.instance.startedAt = Date.now();
    entry.instance.reason = undefined;
    entry.instance.state = 'up';
    this.opts.onMoved?.(entry.instance.app);
  }

  private follow(entry: Tracked, task: TaskView): void {
    if (entry.taskId !== task.id) {
      entry.logs.note(`Task ${task.id.slice(0, 12)} on ${task.node}${task.port ? ` (port ${task.port})` : ''}`);
      void this.attachLogs(entry, task.id).catch((err: Error) => this.log(`${entry.instance.id}: logs: ${err.message}`));
    }
    entry.taskId = task.id;
    entry.nodeId = task.nodeId;
    entry.instance.host = task.address;
    entry.instance.node = task.node;
    entry.instance.port = task.port;
  }

  /**
   * An instance's task ended: its exit is reported, and why when its node's
   * engine knows — Swarm's task status carries the exit code (137), not why; the
   * task's container on its node says whether the kernel killed it at its
   * memory limit (State.OOMKilled), as the docker driver's `oom` event does.
   */
  private async ended(entry: Tracked, failed: FailedTask | undefined): Promise<void> {
    const engine = this.engineOf(entry.nodeId);
    const oom = engine && entry.taskId ? await oomKilled(engine, entry.taskId) : false;
    entry.instance.reason = oom ? 'memory' : undefined;
    // Heroku's words, as under the docker driver, so people and log alerts that know them recognise it.
    if (oom) entry.logs.note(`Error R15 (Memory quota vastly exceeded): killed at its ${entry.memoryMb} MB memory limit`);
    if (failed?.exitCode !== undefined) entry.logs.note(`Task exited with status ${failed.exitCode}`);
    this.listeners.emit(entry.instance.id, failed?.exitCode ?? null, null);
  }

  /** Follows every instance to its slot's running task; a moved or lost one is re-routed. */
  private async poll(): Promise<void> {
    if (this.polling || !this.tracked.size) return;
    this.polling = true;
    const moved = new Set<string>();
    try {
      const services = new Set([...this.tracked.values()].filter((t) => t.taskId && !t.stopping).map((t) => t.service));
      for (const service of services) {
        const { running, failed } = await runningTasks(this.opts.docker, service);
        for (const entry of this.tracked.values()) {
          if (entry.service !== service || entry.stopping || !entry.taskId) continue;
          const task = running.find((t) => t.slot === entry.slot && (entry.instance.type !== 'web' || t.port));
          if (task && task.id === entry.taskId) continue;
          if (entry.instance.state === 'up') {
            // Gone, or already replaced by Swarm before we saw it go: out of the route until a new task answers.
            if (!task)
              this.log(`${entry.instance.id} is not running on ${entry.instance.node} any more: out of the route until Swarm replaces it`);
            entry.instance.state = 'crashed';
            moved.add(entry.instance.app);
            await this.ended(
              entry,
              failed.find((f) => f.id === entry.taskId),
            );
          }
          if (task && entry.checking !== task.id) void this.admit(entry, task);
        }
      }
    } catch (err) {
      this.log(`reading the Swarm's tasks failed: ${(err as Error).message}`);
    } finally {
      this.polling = false;
    }
    for (const app of moved) this.opts.onMoved?.(app);
  }
}
