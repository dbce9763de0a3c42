import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Services } from '../../src/pipeline/context.js';
import type { Driver, Instance, InstanceSpec } from '../../src/runtime/driver.js';
import type { Route, RouterEngine } from '../../src/router/engine.js';
import type { App } from '../../src/store/index.js';

/**
 * A Driver that runs nothing: it hands out instances that "listen" on one
 * real HTTP port (so health checks pass), fails where a test says, and keeps
 * a log of what it started and stopped. For unit tests of the pipeline only;
 * end-to-end tests use the real drivers.
 */
export class FakeDriver implements Driver {
  readonly name = 'fake';
  readonly live = new Map<string, Instance>();
  readonly startedIds: string[] = [];
  readonly stoppedIds: string[] = [];
  private readonly exits = new Map<string, Set<(code: number | null, signal: string | null) => void>>();
  /** Throws from start for the instance `type.index` it names. */
  failStart?: string;
  /** The instance `type.index` it names exits as soon as anyone watches it (a process that dies at start). */
  exitsAtOnce?: string;
  /** The instance `type.index` it names gets a port nobody listens on (it never answers a health check). */
  silent?: { name: string; port: number };
  /** Called as each instance is started, before start resolves. */
  onStart?: (instance: Instance) => void;
  /** The router, asked at every stop whether it still sends traffic to the instance. */
  router?: FakeRouter;
  /** Instances stopped while the router still pointed at them. */
  readonly stoppedWhileRouted: string[] = [];

  constructor(private readonly webPort: number) {}

  async start(spec: InstanceSpec): Promise<Instance> {
    await Promise.resolve();
    const name = `${spec.type}.${spec.index}`;
    if (this.failStart === name) throw new Error(`cannot start ${name}`);
    const id = `${spec.app}.v${spec.release}.${name}`;
    const instance: Instance = {
      id,
      app: spec.app,
      release: spec.release,
      type: spec.type,
      index: spec.index,
      port: spec.type === 'web' ? (this.silent?.name === name ? this.silent.port : this.webPort) : undefined,
      state: 'up',
      restarts: 0,
      startedAt: 0,
    };
    this.live.set(id, instance);
    this.startedIds.push(id);
    this.onStart?.(instance);
    return { ...instance };
  }

  async stop(id: string): Promise<void> {
    await Promise.resolve();
    if (this.router?.routedIds().includes(id)) this.stoppedWhileRouted.push(id);
    if (this.live.delete(id)) this.stoppedIds.push(id);
  }

  instances(app?: string): Instance[] {
    return [...this.live.values()].filter((i) => app === undefined || i.app === app).map((i) => ({ ...i }));
  }

  onExit(id: string, listener: (code: number | null, signal: string | null) => void): () => void {
    const set = this.exits.get(id) ?? new Set();
    set.add(listener);
    this.exits.set(id, set);
    const i = this.live.get(id);
    if (i && `${i.type}.${i.index}` === this.exitsAtOnce) setImmediate(() => this.crash(id));
    return () => set.delete(listener);
  }

  /** The instance's process exits (it stays listed: a real driver would restart it). */
  crash(id: string, code = 1): void {
    for (const l of this.exits.get(id) ?? []) l(code, null);
  }

  async exec(): Promise<number> {
    throw new Error('the fake driver runs no one-offs');
  }

  async shutdown(): Promise<void> {
    this.live.clear();
  }

  /** Ids this driver started that are still running. */
  running(): string[] {
    return [...this.live.keys()];
  }
}

/** A RouterEngine that only keeps its table, fails where a test says, and notes a route to a stopped instance. */
export class FakeRouter implements RouterEngine {
  readonly name = 'fake';
  private readonly table = new Map<string, Route>();
  readonly history: Route[] = [];
  /** Backends routed to that the driver was no longer running. */
  readonly routedToStopped: string[] = [];
  failSetRoute = false;

  constructor(private readonly driver: FakeDriver) {}

  async listen(): Promise<void> {}

  async setRoute(route: Route): Promise<void> {
    await Promise.resolve();
    if (this.failSetRoute) throw new Error('the router could not be reloaded');
    for (const b of route.backends) if (!this.driver.live.has(b.id)) this.routedToStopped.push(b.id);
    this.table.set(route.app, route);
    this.history.push(route);
  }

  async removeRoute(app: string): Promise<void> {
    this.table.delete(app);
  }

  routes(): Route[] {
    return [...this.table.values()];
  }

  async drain(): Promise<void> {}

  async close(): Promise<void> {}

  routedIds(app?: string): string[] {
    return this.routes()
      .filter((r) => app === undefined || r.app === app)
      .flatMap((r) => r.backends.map((b) => b.id));
  }
}

/** A loopback port nothing listens on. */
export async function deadPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

/** One HTTP server answering 200 to everything: the port every fake web instance "listens" on. */
export async function healthyPort(): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, close: () => new Promise((r) => server.close(() => r())) };
}

export interface FakeWorld {
  services: Services;
  driver: FakeDriver;
  router: FakeRouter;
  app: App;
  /** What the fake store says each type's formation is. */
  formation: Record<string, number>;
  currentRelease: { value: number | null };
}

/** Services over the fake driver and router, with just enough of a store for bring-ups. */
export function fakeWorld(webPort: number, opts: { healthTimeoutMs?: number } = {}): FakeWorld {
  const driver = new FakeDriver(webPort);
  const router = new FakeRouter(driver);
  driver.router = router;
  const formation: Record<string, number> = { web: 1 };
  const currentRelease = { value: null as number | null };
  const store = {
    apps: {
      formation: () => ({ ...formation }),
      setFormation: (_id: number, type: string, n: number) => void (formation[type] = n),
      setCurrentRelease: (_id: number, v: number | null) => void (currentRelease.value = v),
    },
    domains: { forApp: () => [] },
  };
  const services = {
    store,
    layout: { data: (a: string) => `/nonexistent/${a}/data`, logs: (a: string) => `/nonexistent/${a}/logs` },
    driver,
    router,
    settings: { domain: 'test.localhost', routerPort: 80, healthTimeoutMs: opts.healthTimeoutMs ?? 5000, stopGraceMs: 0 },
  } as unknown as Services;
  const app = { id: 1, name: 'demo', settings: {}, currentRelease: null, deployBranch: 'main', mode: 'cooking' } as unknown as App;
  return { services, driver, router, app, formation, currentRelease };
}
