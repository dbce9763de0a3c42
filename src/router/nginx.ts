import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { SlipwayError } from '../errors.js';
import { bindError, probeBind, WILDCARD_HOSTS } from '../listen.js';
import type { AccessEntry, AcmeChallenge, AppCertificate, Backend, Route, RouterEngine } from './engine.js';
import type { RequestRecorder } from '../metrics/platform-metrics.js';
import { ACCESS_FILE, NginxAccessLog } from './nginx-access-log.js';
import { checkChallenge } from './acme-challenges.js';
import { appFileName, checkRoute, connectionLimits, listenAddress, PROBE_HOST, renderApp, renderMain } from './nginx-config.js';
import { findNginx, NginxMaster, stopStaleMaster, testConfig } from './nginx-process.js';
import { connectionsTo, openFileLimits, procAvailable, workers } from './nginx-procs.js';
import { RouteTable } from './table.js';
import { removeUnusedCertFiles, tlsFor, writeCertFiles, type NginxCert } from './nginx-tls.js';
import { freePort, probeHostFor, readIfExists, writeAtomic } from './nginx-util.js';

export interface NginxRouterOptions {
  /** nginx's home: config (`live/`), pid file, temp dirs. Created if missing; Slipway owns it. */
  stateDir: string;
  /** The nginx executable. Default: `nginx` on PATH or in /usr/sbin and friends. */
  nginxBin?: string;
  /** Operator-facing messages (nginx's own warnings and errors, drain timeouts); default: discarded. */
  log?: (msg: string) => void;
  /** nginx `worker_processes`. Default: the CPU count, at most 4 (each reload forks this many). */
  workerProcesses?: number | 'auto';
  /** `proxy_read_timeout`/`proxy_send_timeout` in seconds: long polls and slow reports must pass. Default 3600. */
  proxyTimeoutS?: number;
  /**
   * Extra directives for an app's `server` block, e.g. `client_max_body_size 10m;`.
   * Not validated by Slipway, only by `nginx -t`: a bad snippet makes `setRoute` fail.
   */
  appSnippet?: (route: Route) => string | undefined;
  /** How long a reload may take to go live before `setRoute` fails. Default 15s. */
  reloadTimeoutMs?: number;
  /** `close()`: how long nginx may finish requests after `quit` before it is killed. Default 5s. */
  stopGraceMs?: number;
  /** Told of each request an app server answers (nginx's access log, nginx-access.ts), as the built-in engine does. */
  requests?: RequestRecorder;
  /** The access file is rotated (renamed away, nginx reloaded) once it holds this much. Default 64 MB. */
  accessRotateBytes?: number;
}

interface Listening {
  /** The first address; `address()` reports it. */
  host: string;
  port: number;
  /** The `listen` directives' arguments, one per address. */
  directives: string[];
  /** Where Slipway itself reaches nginx (loopback for a wildcard address). */
  probeHost: string;
  /** The TLS port and its `listen` arguments (`listenTls`). */
  tls?: { port: number; directives: string[] };
}

/**
 * The nginx router engine, as Dokku and Piku do it: Slipway renders one
 * config file per app from the routing table and runs its own nginx master.
 * Every change is checked with `nginx -t` on a complete candidate config
 * before it replaces anything, then applied with a graceful reload: old
 * workers finish their requests while new ones take the new connections.
 */
export class NginxRouter implements RouterEngine {
  readonly name = 'nginx';
  private readonly bin: string;
  private readonly log: (msg: string) => void;
  private readonly token = randomBytes(8).toString('hex');
  private table = new Map<string, Route>();
  /** Each app's certificate file (`setCertificates`). */
  private certs = new Map<string, NginxCert>();
  /** ACME challenges answered before any app (`setChallenges`). */
  private challenges: AcmeChallenge[] = [];
  /** Backends taken out of every route, by id, so `drain` knows where they were. */
  private readonly retired = new Map<string, Backend>();
  private master?: NginxMaster;
  private at?: Listening;
  private generation = 0;
  /** Set by `close()`, so nginx exiting then is not reported as a crash. */
  private closing = false;
  /** Changes run one at a time: each one is a test, an install and a reload. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Reads nginx's access lines, from `listen` to `close`. */
  private access?: NginxAccessLog;
  /** Told of each answer an app gave, from nginx's access log: its log drains get a router line. */
  onAccess?: (entry: AccessEntry) => void;
  accessWanted?: (app: string) => boolean;

  /** Throws `nginx_missing` at once when nginx is not installed, so a server fails before it starts anything. */
  constructor(private readonly opts: NginxRouterOptions) {
    this.bin = findNginx(opts.nginxBin);
    this.log = opts.log ?? (() => undefined);
  }

  /** The live config directory: `nginx.conf` and `apps/APP.conf`. */
  get configDir(): string {
    return path.join(this.opts.stateDir, 'live');
  }

  /** nginx's master process id while it runs (for tests and `ps`). */
  get masterPid(): number | undefined {
    return this.master?.running ? this.master.pid : undefined;
  }

  /**
   * Listens on `port` at each of `hosts` (default: every IPv4 and IPv6
   * address). Port 0 picks a free port first (nginx cannot report one it
   * picked itself).
   */
  listen(port: number, hosts: string | string[] = WILDCARD_HOSTS): Promise<void> {
    return this.serial(async () => {
      if (this.master?.running) throw new SlipwayError('router_failed', 'the nginx router is already listening', { status: 500 });
      this.closing = false;
      const list = typeof hosts === 'string' ? [hosts] : hosts;
      const host = list[0] ?? '0.0.0.0';
      const actualPort = port === 0 ? await freePort(host) : port;
      const at: Listening = {
        host,
        port: actualPort,
        directives: list.map((h) => listenAddress(h, actualPort)),
        probeHost: probeHostFor(host),
      };
      const dir = this.opts.stateDir;
      fs.mkdirSync(path.join(dir, 'tmp'), { recursive: true });
      await stopStaleMaster(path.join(dir, 'nginx.pid'), this.mainFile());
      // Checked here, as the built-in router binds: one line naming the address
      // at once, rather than nginx retrying for seconds and printing five.
      for (const h of list) {
        const err = await probeBind(h, actualPort);
        if (err) throw bindError('the router', h, actualPort, err);
      }
      this.access ??= new NginxAccessLog({
        stateDir: dir,
        sink: {
          token: this.token,
          isRouted: (app) => this.table.has(app),
          requests: this.opts.requests,
          onAccess: () => this.onAccess,
          accessWanted: () => this.accessWanted,
          log: this.log,
        },
        rotateAtBytes: this.opts.accessRotateBytes ?? 64 * 1024 * 1024,
        serial: (fn) => this.serial(fn),
        reload: () => this.apply(this.table, []),
        // None while closing: a rotation then would reload an nginx that is stopping.
        workerPids: () => (!this.closing && this.master?.running && this.at ? workers(this.master.pid).map((w) => w.pid) : undefined),
        maxDrainMs: this.proxyTimeoutS * 1000,
        log: this.log,
      });
      // Routes are not persisted here: the daemon sets every app's route again after boot.
      const gen = ++this.generation;
      this.writeConfig(this.configDir, this.table, gen, at);
      await testConfig(this.bin, this.mainFile(), dir);
      const master = NginxMaster.start({ bin: this.bin, conf: this.mainFile(), prefix: dir, log: (l) => this.log(`router: nginx: ${l}`) });
      this.master = master;
      master.exited.then(() => {
        if (this.master === master && !this.closing) this.log(`router: nginx exited unexpectedly (${master.exitReason}): ${master.tail()}`);
      });
      const deadline = Date.now() + (this.opts.reloadTimeoutMs ?? 15_000);
      while ((await this.probe(at)) !== gen) {
        if (!master.running || Date.now() > deadline) {
          await master.stop(0);
          throw new SlipwayError(
            'router_failed',
            `nginx did not start on ${at.directives.join(', ')}: ${master.tail() || `exited with ${master.exitReason}`}`,
            {
              status: 500,
              hint: 'is another program using the router port?',
            },
          );
        }
        await sleep(20);
      }
      this.at = at;
    });
  }

  address(): { host: string; port: number } | undefined {
    return this.at && { host: this.at.host, port: this.at.port };
  }

  /** Terminates TLS on `port` at each of `hosts` too, once `listen` has started nginx: one reload. */
  listenTls(port: number, hosts: string | string[] = WILDCARD_HOSTS): Promise<void> {
    return this.serial(async () => {
      if (!this.at) throw new SlipwayError('router_failed', 'the nginx router must listen before it can listen for TLS', { status: 500 });
      const list = typeof hosts === 'string' ? [hosts] : hosts;
      const actualPort = port === 0 ? await freePort(list[0] ?? '0.0.0.0') : port;
      for (const h of list) {
        const err = await probeBind(h, actualPort);
        if (err) throw bindError('the router (TLS)', h, actualPort, err);
      }
      const at = { ...this.at, tls: { port: actualPort, directives: list.map((h) => listenAddress(h, actualPort)) } };
      await this.apply(this.table, [...this.table.keys()], { at });
      this.at = at;
    });
  }

  /** One tested config and reload with the new challenges in every server they belong to. */
  setChallenges(challenges: AcmeChallenge[]): Promise<void> {
    return this.serial(async () => {
      const checked = challenges.map(checkChallenge);
      await this.apply(this.table, [...this.table.keys()], { challenges: checked });
      this.challenges = checked;
    });
  }

  /** Where the TLS port listens. */
  tlsAddress(): { host: string; port: number } | undefined {
    return this.at?.tls && { host: this.at.host, port: this.at.tls.port };
  }

  /** Writes the certificate files, then one tested config and reload for every app; unused files go after. */
  setCertificates(certs: AppCertificate[]): Promise<void> {
    return this.serial(async () => {
      const next = writeCertFiles(this.opts.stateDir, certs, this.log);
      // The daemon hands over every certificate on changes that rarely touch them (an app destroyed, a key removed): no reload for nothing.
      const same =
        next.size === this.certs.size &&
        [...next].every(([app, c]) => {
          const o = this.certs.get(app);
          return o?.sha256 === c.sha256 && o.redirect === c.redirect && o.hstsMaxAge === c.hstsMaxAge;
        });
      if (same) return;
      await this.apply(this.table, [...this.table.keys()], { certs: next }).catch((err: unknown) => {
        // A refused certificate's file (it holds a key) goes at once, not at the next successful change.
        removeUnusedCertFiles(this.opts.stateDir, this.certs);
        throw err;
      });
      this.certs = next;
      if (this.at) removeUnusedCertFiles(this.opts.stateDir, next);
    });
  }

  setRoute(route: Route): Promise<void> {
    return this.serial(async () => {
      const checked = checkRoute(route);
      // Same rule as the built-in engine: a host already served by another app is refused.
      const conflicts = new RouteTable();
      for (const r of this.table.values()) conflicts.set(r);
      conflicts.set(checked);
      const next = new Map(this.table).set(checked.app, checked);
      await this.apply(next, [checked.app]);
      const kept = new Set(checked.backends.map((b) => b.id));
      for (const b of this.table.get(checked.app)?.backends ?? []) if (!kept.has(b.id)) this.retired.set(b.id, b);
      for (const id of kept) this.retired.delete(id);
      this.table = next;
      this.forgetOldRetired();
    });
  }

  removeRoute(app: string): Promise<void> {
    return this.serial(async () => {
      const old = this.table.get(app);
      if (!old) return;
      const next = new Map(this.table);
      next.delete(app);
      await this.apply(next, [app]);
      for (const b of old.backends) this.retired.set(b.id, b);
      this.table = next;
      this.forgetOldRetired();
    });
  }

  routes(): Route[] {
    return [...this.table.values()].map((r) => ({
      app: r.app,
      hosts: [...r.hosts],
      backends: r.backends.map((b) => ({ ...b })),
      ...(r.headers ? { headers: { ...r.headers } } : {}),
    }));
  }

  /**
   * Resolves once no nginx worker holds a connection to any of `backendIds`,
   * or after `timeoutMs` (logged). `setRoute` already waited for the reload to
   * settle, so only old-generation workers can still be talking to a removed
   * backend: those finishing requests (or websockets) they accepted before
   * it. nginx cannot say which request goes where, so this looks at the
   * workers' TCP connections in /proc. When the address is still in another
   * route, only old workers count. Without /proc it waits one second.
   */
  async drain(backendIds: string[], timeoutMs: number): Promise<void> {
    const all = new Map([...this.retired, ...[...this.table.values()].flatMap((r) => r.backends.map((b) => [b.id, b] as const))]);
    const targets = backendIds.map((id) => all.get(id)).filter((b): b is Backend => b !== undefined);
    const master = this.master;
    if (!targets.length || !master?.running) return;
    if (!procAvailable()) return void (await sleep(Math.min(timeoutMs, 1000)));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = this.connectionsTo(master.pid, targets);
      if (left === 0) break;
      if (Date.now() >= deadline) {
        this.log(`router: drain gave up after ${timeoutMs}ms with ${left} nginx connection(s) still open to ${backendIds.join(', ')}`);
        return;
      }
      await sleep(50);
    }
    for (const id of backendIds) this.retired.delete(id);
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.queue.catch(() => undefined);
    await this.master?.stop(this.opts.stopGraceMs ?? 5000);
    this.at = undefined;
    // nginx wrote its buffers as it quit: the last lines are read before the follower goes.
    this.access?.stop();
    this.access = undefined;
    fs.rmSync(path.join(this.opts.stateDir, 'candidate'), { recursive: true, force: true });
  }

  /**
   * The one way config changes: render the whole table into a candidate
   * directory, `nginx -t` it, move the changed app's file and the main file
   * into the live directory (rename: nginx never reads a half-written file),
   * reload, and wait until the new generation serves. A config nginx rejects
   * never reaches the live directory; a reload nginx cannot apply is undone.
   */
  private async apply(
    next: Map<string, Route>,
    apps: string[],
    change: { at?: Listening; certs?: Map<string, NginxCert>; challenges?: AcmeChallenge[] } = {},
  ): Promise<void> {
    const at = change.at ?? this.at;
    const extras = { certs: change.certs ?? this.certs, challenges: change.challenges ?? this.challenges };
    if (!at) return; // not listening yet: `listen` writes the whole table
    const master = this.master;
    if (!master?.running) {
      throw new SlipwayError('router_down', `nginx is not running (it exited with ${master?.exitReason ?? 'no status'})`, {
        status: 503,
        hint: 'restart the Slipway server',
      });
    }
    const gen = ++this.generation;
    const candidate = path.join(this.opts.stateDir, 'candidate');
    fs.rmSync(candidate, { recursive: true, force: true });
    try {
      this.writeConfig(candidate, next, gen, at, extras);
      const what = apps.length === 1 ? `the configuration for ${apps[0]}` : 'the configuration';
      await testConfig(this.bin, path.join(candidate, 'nginx.conf'), this.opts.stateDir).catch((err: SlipwayError) => {
        // The candidate is deleted below: name files as they are in the live directory.
        const message = err.message.replace('the configuration', what).split(`${candidate}${path.sep}`).join('');
        throw new SlipwayError(err.code, message, { status: 500, hint: 'the previous configuration keeps serving', cause: err });
      });
      const liveApps = apps.map((app) => path.join(this.configDir, 'apps', appFileName(app)));
      const previous = { main: fs.readFileSync(this.mainFile(), 'utf8'), apps: liveApps.map(readIfExists) };
      apps.forEach((app, i) => {
        if (next.has(app)) fs.renameSync(path.join(candidate, 'apps', appFileName(app)), liveApps[i]!);
        else fs.rmSync(liveApps[i]!, { force: true });
      });
      fs.renameSync(path.join(candidate, 'nginx.conf'), this.mainFile());
      try {
        await this.reload(master, gen, at);
      } catch (err) {
        // nginx kept the old config; put the old files back so the next reload does not pick this one up.
        writeAtomic(this.mainFile(), previous.main);
        liveApps.forEach((file, i) => {
          const text = previous.apps[i];
          if (text === undefined) fs.rmSync(file, { force: true });
          else writeAtomic(file, text);
        });
        throw err;
      }
    } finally {
      fs.rmSync(candidate, { recursive: true, force: true });
    }
  }

  /**
   * Sends SIGHUP and resolves once the new config is what answers every new
   * connection. After a SIGHUP the master starts new workers, sleeps ~100ms,
   * and only then tells the old ones to quit; until each has closed its
   * listening socket, a new connection may still land on the old config. So
   * "a request reached the new config" is not enough (one lucky probe proves
   * nothing about the next connection), and neither is "new workers exist".
   * The condition used is: every worker from before the signal is gone or
   * titled "shutting down" (nginx sets that title right before it closes its
   * listening sockets), and a probe answers with the new generation. A reload
   * nginx cannot apply shows up as an `[emerg]` line and fails at once.
   */
  private async reload(master: NginxMaster, gen: number, at: Listening): Promise<void> {
    const before = new Set(
      workers(master.pid)
        .filter((w) => !w.shuttingDown)
        .map((w) => w.pid),
    );
    const mark = master.mark();
    const deadline = Date.now() + (this.opts.reloadTimeoutMs ?? 15_000);
    master.reload();
    for (;;) {
      const errors = master.errorsSince(mark);
      if (errors.length || !master.running) {
        const why = errors.length ? errors.join('; ') : `nginx exited with ${master.exitReason}`;
        throw new SlipwayError('router_reload_failed', `nginx could not apply the new configuration: ${why}`, {
          status: 500,
          hint: 'the previous configuration keeps serving',
        });
      }
      const now = workers(master.pid);
      const settled = now.some((w) => !before.has(w.pid) && !w.shuttingDown) && !now.some((w) => before.has(w.pid) && !w.shuttingDown);
      if (settled && (await this.probe(at)) === gen) return;
      if (Date.now() > deadline) {
        throw new SlipwayError(
          'router_reload_failed',
          `nginx did not switch to the new configuration within ${this.opts.reloadTimeoutMs ?? 15_000}ms`,
          { status: 500 },
        );
      }
      await sleep(10);
    }
  }

  /** The generation the probe server reports, or undefined when nginx (ours) does not answer. */
  private probe(at: Listening): Promise<number | undefined> {
    return new Promise((resolve) => {
      const req = http.get(
        { host: at.probeHost, port: at.port, path: '/generation', headers: { host: PROBE_HOST }, agent: false, timeout: 1000 },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => {
            const [token, gen] = body.trim().split(' ');
            resolve(res.statusCode === 200 && token === this.token ? Number(gen) : undefined);
          });
          res.on('error', () => resolve(undefined));
        },
      );
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(undefined));
    });
  }

  private connectionsTo(masterPid: number, targets: Backend[]): number {
    const routed = new Set([...this.table.values()].flatMap((r) => r.backends.map(addrKey)));
    const all = workers(masterPid);
    const old = all.filter((w) => w.shuttingDown).map((w) => w.pid);
    const every = all.map((w) => w.pid);
    return targets.reduce((n, t) => n + connectionsTo(routed.has(addrKey(t)) ? old : every, [t]), 0);
  }

  private writeConfig(
    dir: string,
    routes: Map<string, Route>,
    gen: number,
    at: Listening,
    extras = { certs: this.certs, challenges: this.challenges },
  ): void {
    const { certs, challenges } = extras;
    const routed = new Set([...routes.values()].flatMap((r) => r.hosts));
    const apps = path.join(dir, 'apps');
    fs.mkdirSync(apps, { recursive: true });
    for (const file of fs.readdirSync(apps))
      if (!routes.has(file.replace(/\.conf$/, ''))) fs.rmSync(path.join(apps, file), { force: true });
    for (const route of routes.values()) {
      const tls = tlsFor(route, certs.get(route.app), at.tls);
      const own = challenges.filter((c) => route.hosts.includes(c.host));
      const text = renderApp({
        route,
        listen: at.directives,
        proxyTimeoutS: this.proxyTimeoutS,
        snippet: this.opts.appSnippet?.(route),
        tls,
        challenges: own,
        accessFile: this.access ? ACCESS_FILE : undefined,
      });
      writeAtomic(path.join(apps, appFileName(route.app)), text);
    }
    const workerProcesses = this.opts.workerProcesses ?? Math.min(os.availableParallelism(), 4);
    const limits = connectionLimits(openFileLimits());
    writeAtomic(
      path.join(dir, 'nginx.conf'),
      renderMain({
        listen: at.directives,
        workerProcesses,
        ...limits,
        generation: gen,
        token: this.token,
        proxyTimeoutS: this.proxyTimeoutS,
        tlsListen: at.tls?.directives,
        unroutedChallenges: challenges.filter((c) => !routed.has(c.host)),
        accessLog: this.access !== undefined,
      }),
    );
  }

  /** Backends nobody drained stay known for a while, not forever. */
  private forgetOldRetired(): void {
    for (const id of this.retired.keys()) {
      if (this.retired.size <= 1000) break;
      this.retired.delete(id);
    }
  }

  private get proxyTimeoutS(): number {
    return this.opts.proxyTimeoutS ?? 3600;
  }

  private mainFile(): string {
    return path.join(this.configDir, 'nginx.conf');
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

const addrKey = (b: Backend): string => `${b.host}:${b.port}`;
