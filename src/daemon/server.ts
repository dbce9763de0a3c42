import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import type net from 'node:net';
import ssh2 from 'ssh2';
import { buildHttpServer } from '../api/server.js';
import { clientAddress } from '../api/client-address.js';
import { apiDomainHolders, isReservedAppName } from '../auth/hosts.js';
import { checkHostname } from '../commands/domains.js';
import { describe, invalid } from '../errors.js';
import { LiveSessions } from '../auth/sessions.js';
import { DEFAULT_EGRESS, type EgressSettings } from '../egress/index.js';
import { DrainManager } from '../drains/manager.js';
import { newToken } from '../auth/tokens.js';
import type { Platform, ServerSettings } from '../commands/context.js';
import { runCommand } from '../commands/program.js';
import { appUrl } from '../commands/format.js';
import { createGitHttpHandler } from '../git/http-backend.js';
import { linkHooks } from '../git/repos.js';
import { startSshServer, type SshServer } from '../git/ssh-server.js';
import { HOOKS_DIR, BUILTIN_BUILDPACKS } from '../paths.js';
import { WebhookNotifier } from '../notify/webhook-notifier.js';
import type { Services } from '../pipeline/context.js';
import { stopInstances } from '../pipeline/formation.js';
import { DeployQueue } from '../pipeline/queue.js';
import { OneOffs } from '../pipeline/one-offs.js';
import { createRouter, describeRouter, type RouterSetting } from '../router/select.js';
import { Orphans } from '../runtime/orphans.js';
import { createRuntime, type DriverKind } from '../runtime/select.js';
import { SecretBox } from '../secrets/box.js';
import { publishCertificates } from '../tls/certificates.js';
import type { AcmeSettings } from '../tls/acme/accounts.js';
import { AcmeService } from '../tls/acme/service.js';
import { RenewalSweep } from '../tls/acme/sweep.js';
import { Store } from '../store/index.js';
import { listenAll, parseBind, resolveBind } from '../listen.js';
import { Layout } from '../store/layout.js';
import { GuestHost } from '../guest/host.js';
import { GuestUsers, SHARED_USER_WARNING } from '../guest/users.js';
import { recoverJobs, restoreApps } from './boot.js';
import { hostEngine } from '../hosts/membership.js';
import { routeTo } from '../pipeline/formation.js';
import { managerState, serverManager } from '../hosts/swarm.js';
import { runningRegistry } from '../hosts/registry.js';
import { SERVER_DEFAULTS } from './defaults.js';
import { settingsOf } from '../apps/settings.js';
import { removeLeftovers } from './leftovers.js';
import { startControlSocket, type ControlIO } from './control.js';
import { hangUpLeftoverPipes } from './hook-pipes.js';
import { DaemonGateway } from './gateway.js';
import { API_CERT_ACME, apiUrlOf, loopbackFor, platformCertificate, PlatformRouter } from './platform-route.js';
import { PlatformAcme } from '../tls/acme/platform.js';
import { PlatformMetrics } from '../metrics/platform-metrics.js';
import { handleHook } from './push.js';
import { expirePreviews } from '../pipeline/previews.js';
import { forgetNextBuilds } from '../pipeline/builders.js';

export interface ServerOptions {
  home: string;
  sshPort: number;
  httpPort: number;
  routerPort: number;
  /** The router's TLS port (`--router-tls-port`); none when absent. */
  routerTlsPort?: number;
  domain: string;
  /** Host name printed in git remotes. */
  publicHost?: string;
  /** `--api-domain`: the router serves the API and git over HTTP at this name too (plain and TLS port). */
  apiDomain?: string;
  /** `--api-cert`/`--api-key`: the API domain's certificate chain and key files, PEM. */
  apiCert?: string;
  apiKey?: string;
  /**
   * Addresses the SSH, HTTP and router ports listen on, comma-separated
   * (`--bind`); default every IPv4 and IPv6 address (see listen.ts).
   */
  bind?: string;
  extraCaBundle?: string;
  /** The ACME CA (`--acme-directory`, default Let's Encrypt), the account's contact (`--acme-email`) and binding (`--acme-eab-*`). */
  acme?: Partial<AcmeSettings>;
  keepReleases?: number;
  healthTimeoutMs?: number;
  stopGraceMs?: number;
  /** See SERVER_DEFAULTS.buildKeepWarmMs. */
  buildKeepWarmMs?: number;
  /** Router engine: the built-in Node proxy (default) or Slipway's own nginx. */
  router?: RouterSetting;
  /** Runtime driver of apps without their own `driver` setting: embedded processes (default) or Docker containers. */
  driver?: DriverKind;
  /** `--registry HOST:PORT`: where swarm apps' release images are pushed and every host pulls them from. */
  registry?: string;
  /** Wait before a failed webhook delivery's first retry (doubles each time); default 1 s. */
  webhookRetryMs?: number;
  /** Largest API upload (artifact or source tarball) accepted, in bytes; default 1 GiB. It is also the size limit of fetches. */
  maxUploadBytes?: number;
  /** Make guests (default true); false runs apps as the server's user, with the warning a non-root server gives. */
  guests?: boolean;
  /** Inclusive range each app's own uid/gid is allocated from; default 70000–169999. */
  guestUids?: [number, number];
  /** Egress ranges and timeouts (`--egress-*`); the size limit is maxUploadBytes. */
  egress?: Partial<Omit<EgressSettings, 'maxBytes'>>;
  /** The token Prometheus scrapes `GET /metrics` with (`--metrics-token-file`); admins' tokens work too. */
  metricsToken?: string;
  /** Where operator messages go; default stdout. */
  log?: (msg: string) => void;
}

export interface RunningServer {
  settings: ServerSettings;
  store: Store;
  /** Printed once, on the very first start. */
  firstStart?: { adminToken: string };
  close(): Promise<void>;
}

const VERSION = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version as string;

/** The composition root: store, runtime, router, queue, then the three entrances. */
export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const log = opts.log ?? ((m: string) => process.stdout.write(`${m}\n`));
  const bind = parseBind(opts.bind);
  const layout = new Layout(opts.home);
  const apiDomain = opts.apiDomain ? checkHostname(opts.apiDomain) : SERVER_DEFAULTS.apiDomain;
  const apiCert = platformCertificate(opts, apiDomain);
  const apiAcme = opts.apiCert === API_CERT_ACME;
  // The router proves with it that a request to the API came through it (api/client-address.ts); new at every start.
  const routerKey = randomBytes(32).toString('base64url');
  const metrics = new PlatformMetrics();
  // First, so a missing nginx fails before anything is opened.
  const router = new PlatformRouter(
    createRouter({ kind: opts.router ?? SERVER_DEFAULTS.router, home: layout.home, log, requests: metrics }),
    {
      domain: apiDomain,
      routerKey,
      certificate: apiCert,
    },
  );
  fs.mkdirSync(layout.home, { recursive: true, mode: 0o700 });
  for (const d of [layout.reposDir, layout.appsDir]) fs.mkdirSync(d, { recursive: true });
  // Before the store: a key file others can read stops the start with one clear line.
  const secrets = SecretBox.forHome(layout.home);
  const store = Store.open(layout.db);

  const settings: ServerSettings = {
    domain: opts.domain,
    routerPort: opts.routerPort,
    routerTlsPort: opts.routerTlsPort,
    apiDomain,
    apiUrl: apiDomain && apiUrlOf(apiDomain, (apiCert || apiAcme) && router.listenTls ? opts.routerTlsPort : undefined, opts.routerPort),
    sshPort: opts.sshPort,
    httpPort: opts.httpPort,
    publicHost: opts.publicHost ?? os.hostname(),
    buildpacksDir: BUILTIN_BUILDPACKS,
    extraCaBundle: opts.extraCaBundle,
    keepReleases: opts.keepReleases ?? SERVER_DEFAULTS.keepReleases,
    keepBackups: SERVER_DEFAULTS.keepBackups,
    healthTimeoutMs: opts.healthTimeoutMs ?? SERVER_DEFAULTS.healthTimeoutMs,
    stopGraceMs: opts.stopGraceMs ?? SERVER_DEFAULTS.stopGraceMs,
    buildKeepWarmMs: opts.buildKeepWarmMs ?? SERVER_DEFAULTS.buildKeepWarmMs,
    defaultDriver: opts.driver ?? SERVER_DEFAULTS.driver,
    egress: { ...SERVER_DEFAULTS.egress, ...opts.egress, maxBytes: opts.maxUploadBytes ?? SERVER_DEFAULTS.maxUploadBytes },
  };
  const holders = apiDomainHolders(store, settings);
  if (holders.length) {
    store.close();
    throw invalid(
      `--api-domain ${apiDomain} is already served for an app: ${holders.join(', ')}`,
      'choose another --api-domain, or remove the domain from the app first',
    );
  }
  const firstStart = ensureAdmin(store);
  // First thing after the store: builds and one-offs a crashed daemon left are ended before anything new is spawned.
  const orphans = new Orphans(layout.orphansDir);
  orphans.reapAll(log);

  let guests: GuestUsers;
  let guestHost: GuestHost | undefined;
  try {
    guests = new GuestUsers(store, { range: opts.guestUids ?? [...SERVER_DEFAULTS.guestUids] });
    // Only root can switch users; a root server that cannot make guests refuses to start rather than run apps as root.
    if (process.getuid?.() === 0 && (opts.guests ?? SERVER_DEFAULTS.guests))
      guestHost = await GuestHost.create({ home: layout.home, extraCaBundle: opts.extraCaBundle, log: (m) => log(`guests: ${m}`) });
    else log(` !     ${SHARED_USER_WARNING}`);
  } catch (err) {
    store.close();
    throw err;
  }
  let reroute: (app: string) => void = () => undefined;
  const driver = await createRuntime({
    store,
    appDriver: (app) => settingsOf(app).get('driver'),
    kind: settings.defaultDriver,
    home: layout.home,
    log: (m) => log(`driver: ${m}`),
    stateDir: `${layout.runDir}/process`,
    extraCaBundle: opts.extraCaBundle,
    guests: guestHost,
    standbyKeepMs: settings.buildKeepWarmMs,
    swarm: {
      // Without --registry: the one `registry:start` runs on this machine, while it runs.
      registry: opts.registry ?? (() => runningRegistry(layout.home)?.address),
      stopGraceMs: settings.stopGraceMs,
      // A task's node is reached through the hosts registry's engine address and sealed credentials.
      nodeEngine: (nodeId) => {
        const host = store.hosts.byNodeId(nodeId);
        return host && secrets ? hostEngine({ store, secrets, manager: serverManager() }, host) : undefined;
      },
      onMoved: (name) => reroute(name),
    },
  }).catch((err) => {
    store.close();
    throw err;
  });
  const notifier = new WebhookNotifier({
    store,
    egress: settings.egress,
    retry: { baseDelayMs: opts.webhookRetryMs ?? SERVER_DEFAULTS.webhookRetryMs },
    log: (m) => log(`webhooks: ${m}`),
    onAttempt: (app, outcome) => metrics.webhookAttempt(app, outcome),
  });
  // The built-in router asks the runtime before each request whether a backend's port is still its instance's.
  router.serves = (id) => driver.serves(id) ?? true;
  router.owns = (port, clientPort) => driver.ownsConnection(port, clientPort) ?? true;
  const drains = new DrainManager({
    store,
    layout,
    secrets,
    egress: settings.egress ?? DEFAULT_EGRESS,
    extraCaBundle: opts.extraCaBundle,
    log,
  });
  drains.onEvent((e) => metrics.drainMessage(e.app, e.kind, e.lines));
  const services: Services = { store, layout, driver, router, settings, notifier, secrets, guests, guestHost, orphans, metrics, drains };
  router.onAccess = (entry) => drains.routerAccess(entry);
  router.accessWanted = (app) => drains.hasDrains(app);
  metrics.setSources({
    instances: () => driver.instances().filter((i) => i.state === 'up'),
    certificates: () => store.certs.list().flatMap((c) => (c.notAfter == null ? [] : [{ app: c.appName, notAfter: c.notAfter }])),
  });
  // Swarm moved a task (a drained or lost host): the live release's running instances are routed again.
  reroute = (name) => {
    const app = store.apps.byName(name);
    if (!app || app.currentRelease == null) return;
    const live = driver.instances(name).filter((i) => i.release === app.currentRelease && i.state === 'up');
    routeTo(services, app, live).catch((err: Error) => log(`${name}: re-routing failed: ${err.message}`));
  };
  if (router.setChallenges) {
    services.acme = new AcmeService({
      store,
      secrets,
      router,
      layout,
      notifier,
      extraCaBundle: opts.extraCaBundle,
      domain: opts.domain,
      acme: { directory: SERVER_DEFAULTS.acmeDirectory, ...opts.acme },
      log: (m) => log(m),
    });
  }
  const renewals = services.acme && new RenewalSweep(services.acme);
  if (apiAcme && !services.acme)
    throw invalid(
      `the ${router.name} router cannot answer ACME challenges`,
      'use --router builtin or nginx, or give --api-cert FILE --api-key FILE',
    );
  const platformAcme =
    apiAcme && services.acme
      ? new PlatformAcme({
          store,
          secrets,
          acme: services.acme.deps.acme,
          challenges: services.acme.challenges,
          domain: apiDomain!,
          serve: (cert) => router.setPlatformCertificate(cert),
          extraCaBundle: opts.extraCaBundle,
          log,
        })
      : undefined;
  const queue = new DeployQueue(services);
  const oneOffs = new OneOffs({ driver, orphans });
  const platform: Platform = {
    services,
    queue,
    oneOffs,
    stopApp: async (app) => {
      await Promise.all(oneOffs.list(app).map((o) => oneOffs.stop(o.id)));
      await stopInstances(services, driver.instances(app));
      await router.removeRoute(app);
    },
  };
  // Streams and SSH sessions end when the access they were opened with is revoked.
  const sessions = new LiveSessions(store, log);
  // What a push's hooks ask, through control.sock (node hooks) or a push's FIFOs (the piped post-receive).
  const hook = (req: Parameters<typeof handleHook>[1], io: ControlIO): Promise<number> =>
    handleHook(
      {
        store,
        queue,
        deps: { services, queue },
        sessions: gateway.pushes,
        stopApp: platform.stopApp,
        reservedName: (name) => isReservedAppName(name, settings),
      },
      req,
      io,
    );
  const gateway = new DaemonGateway({ store, layout, settings, platform, sessions, hook });
  const admin = () => store.users.list().find((u) => u.role === 'admin')!;

  await recoverJobs(services, log);
  removeLeftovers(layout, log);
  for (const app of store.apps.list()) if (fs.existsSync(layout.repo(app.name))) await linkHooks(layout.repo(app.name), HOOKS_DIR);

  const closers: Array<() => Promise<unknown>> = [];
  const hosts = await resolveBind(bind, log);
  try {
    await router.listen(opts.routerPort, hosts);
    closers.push(() => router.close());
    await listenTls({ router, store, secrets, log }, opts.routerTlsPort, hosts);
    const control: net.Server = await startControlSocket(layout.controlSocket, {
      command: (argv, io) => runCommand({ store, layout, settings, user: admin(), io: { ...io, tty: false }, local: true, platform }, argv),
      hook,
    });
    // Only now is the home this server's (control.sock answered no one): another server's pushes are not touched.
    const hungUp = hangUpLeftoverPipes(layout.pushPipes);
    if (hungUp) log(`ended the hooks of ${hungUp} push${hungUp === 1 ? '' : 'es'} the previous run left waiting`);
    closers.push(() => new Promise((r) => control.close(() => r(undefined))));
    const http = await buildHttpServer({
      store,
      gateway,
      platform,
      layout,
      settings,
      sessions,
      maxUploadBytes: opts.maxUploadBytes ?? SERVER_DEFAULTS.maxUploadBytes,
      gitHandler: createGitHttpHandler({ gateway, log, clientAddress: (req) => clientAddress(req, routerKey) }),
      version: VERSION,
      log,
      routerKey,
      metrics,
      metricsToken: opts.metricsToken,
    });
    const api = await listenAll({
      what: 'HTTP (git and the API)',
      hosts,
      port: opts.httpPort,
      listen: async (options) => {
        await http.listen(options);
        return (http.server.address() as net.AddressInfo).port;
      },
      unlisten: () => http.close(),
      // fastify listens on one address; connections on the others go to the same server.
      onConnection: (socket) => http.server.emit('connection', socket),
      serverOptions: { allowHalfOpen: true, noDelay: true },
    });
    closers.push(() => http.close());
    closers.push(() => api.extra.close());
    await router.routeApi({ host: loopbackFor(hosts[0]!), port: api.port });
    const ssh: SshServer = await startSshServer({ port: opts.sshPort, hosts, hostKey: hostKey(layout), gateway, log });
    closers.push(() => ssh.close());
  } catch (err) {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    await driver.shutdown({ graceMs: 1000 });
    store.close();
    throw err;
  }
  // Before the apps start, so their first lines reach their drains.
  drains.start();
  await restoreApps(services, log);
  await driver.sweep();
  notifier.start();
  renewals?.start();
  // Previews past their parent's previews.ttl go, with everything they made; checked hourly.
  const previewSweep = setInterval(
    () =>
      void expirePreviews(platform)
        .then((names) => names.length && log(`-----> Removed expired preview apps: ${names.join(', ')}`))
        .catch((err) => log(`previews: ${describe(err)}`)),
    3_600_000,
  ).unref();
  await platformAcme?.start();

  log(`-----> Slipway ${VERSION} is running (home ${layout.home})`);
  log(`       git over SSH   ssh://slipway@${settings.publicHost}:${opts.sshPort}/APP.git`);
  log(`       git over HTTP  http://${settings.publicHost}:${opts.httpPort}/git/APP.git   (API: /api/v1)`);
  log(`       apps           ${appUrl('APP', settings)}`);
  log(`       router         ${describeRouter(router.name, opts.router ?? SERVER_DEFAULTS.router)}`);
  if (opts.routerTlsPort !== undefined && router.listenTls)
    log(`       apps over TLS  https://DOMAIN:${opts.routerTlsPort}/   (domains with a certificate: slipway certs:add)`);
  if (settings.apiUrl)
    log(
      settings.apiUrl.startsWith('https:')
        ? `       API over TLS   ${settings.apiUrl}/git/APP.git   (API: /api/v1)`
        : `       API            ${settings.apiUrl}/   (plain HTTP: give --api-cert and --api-key for HTTPS)`,
    );
  log(`       listening on   ${hosts.map((h) => (h.includes(':') ? `[${h}]` : h)).join(', ')}`);
  // Hosts joined to a Swarm depend on its manager, the server's engine: say at start when it is gone (without waiting for it).
  if (store.hosts.list().length)
    void managerState(serverManager()).then((s) => {
      if (!s.ok) log(` !     hosts: ${s.why}; ${s.hint}`);
    });
  if (firstStart) {
    log(`-----> First start: created the admin user "admin"`);
    log(`       admin API token (shown once, keep it): ${firstStart.adminToken}`);
    log(`       add your SSH key:   slipway keys:add ~/.ssh/id_ed25519.pub`);
    log(`       create an app:      slipway apps:create myapp`);
    log(`       then add a remote:  git remote add paas ssh://slipway@${settings.publicHost}:${opts.sshPort}/myapp.git`);
    log(`                       or: git remote add paas http://admin:TOKEN@${settings.publicHost}:${opts.httpPort}/git/myapp.git`);
  }

  let closing: Promise<void> | undefined;
  return {
    settings,
    store,
    firstStart,
    close: () =>
      (closing ??= (async () => {
        // Open follows and one-offs would hold the HTTP server open; each is told why it ends.
        sessions.endAll('the Slipway server is stopping');
        clearInterval(previewSweep);
        await queue.shutdown();
        // After the queue: no job is left to start another next build's container.
        await forgetNextBuilds(services);
        await renewals?.stop();
        await platformAcme?.stop();
        await notifier.stop();
        for (const close of closers.reverse()) await close().catch(() => undefined);
        await oneOffs.shutdown();
        await driver.shutdown({ graceMs: Math.min(settings.stopGraceMs, 10_000) });
        await drains.stop();
        store.close();
      })()),
  };
}

/**
 * The router's TLS port, with every stored certificate loaded first. A
 * destroyed app's certificate (gone with its row) stops being served at once.
 */
async function listenTls(
  deps: { router: ReturnType<typeof createRouter>; store: Store; secrets: SecretBox; log: (m: string) => void },
  port: number | undefined,
  hosts: string[],
): Promise<void> {
  if (port === undefined) return;
  if (!deps.router.listenTls)
    return deps.log(` !     the ${deps.router.name} router engine does not serve HTTPS yet; --router-tls-port is ignored`);
  await publishCertificates(deps);
  await deps.router.listenTls(port, hosts);
  deps.store.onAccessChange(() => void publishCertificates(deps).catch((err) => deps.log(`tls: ${(err as Error).message}`)));
}

function ensureAdmin(store: Store): { adminToken: string } | undefined {
  if (store.users.count() > 0) return undefined;
  const admin = store.users.add('admin', 'admin');
  const { token, hash } = newToken();
  store.users.addToken(admin.id, 'first-start', hash);
  return { adminToken: token };
}

function hostKey(layout: Layout): string {
  if (!fs.existsSync(layout.hostKey)) {
    const pair = parseableKeyPair();
    fs.writeFileSync(layout.hostKey, pair.private, { mode: 0o600 });
    fs.writeFileSync(`${layout.hostKey}.pub`, pair.public + '\n');
  }
  return fs.readFileSync(layout.hostKey, 'utf8');
}

/**
 * ssh2 1.17 drops a leading zero byte of an ed25519 public key, so about one
 * key in 256 it generates cannot be parsed back (mscdex/ssh2#1513), and the
 * server would fail on its first start. Such a pair is simply made again.
 */
function parseableKeyPair(): { private: string; public: string } {
  for (;;) {
    const pair = ssh2.utils.generateKeyPairSync('ed25519', { comment: 'slipway host key' } as never);
    if (!(ssh2.utils.parseKey(pair.private) instanceof Error) && !(ssh2.utils.parseKey(pair.public) instanceof Error)) return pair;
  }
}
