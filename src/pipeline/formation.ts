import type { Instance } from '../runtime/driver.js';
import { revealConfig } from '../secrets/box.js';
import type { App } from '../store/index.js';
import type { Services } from './context.js';
import { guestOf } from './guests.js';
import { settingsOf } from '../apps/settings.js';
import { trustEnv } from '../runtime/ca-trust.js';

/**
 * The environment every process and hook of an app sees, before the driver adds
 * PORT and DYNO. Secret config vars are opened here and nowhere earlier.
 */
export function processEnv(
  services: Services,
  app: string,
  version: number,
  vars: Record<string, string>,
  releaseDir: string,
): Record<string, string> {
  const ca = services.settings.extraCaBundle;
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: releaseDir,
    LANG: 'C.UTF-8',
    SLIPWAY_APP: app,
    SLIPWAY_RELEASE: `v${version}`,
    SLIPWAY_DATA_DIR: services.layout.data(app),
    ...(ca ? trustEnv(ca, Object.hasOwn(vars, 'NODE_OPTIONS')) : {}),
    ...revealConfig(services.secrets, app, vars),
  };
}

/** Instances wanted per process type: the stored formation, else Heroku's default of `web=1`. */
export function desiredFormation(services: Services, app: App, processTypes: Record<string, string>): Record<string, number> {
  const stored = services.store.apps.formation(app.id);
  const wanted: Record<string, number> = {};
  for (const type of Object.keys(processTypes)) {
    if (type === 'release') continue; // the release phase runs once, it is not a formation member
    wanted[type] = stored[type] ?? (type === 'web' ? 1 : 0);
  }
  return wanted;
}

/** What it takes to start processes of a release: its directory, env, process types and (Dockerfile apps) image. */
export interface RunnableRelease {
  version: number;
  dir: string;
  env: Record<string, string>;
  processTypes: Record<string, string>;
  /** Dockerfile apps: the release's image (Release.image). */
  image?: string;
}

/**
 * A new app's first release gets the head start later ones get after each
 * deploy (the docker driver's standby container), from `apps:create`: the
 * spec its first web instance will have, but for the release. Only a head
 * start: anything that stops it (no uid left) is met again by the deploy.
 */
export function prepareFirstStart(services: Services, app: App): void {
  if (!services.driver.prepareNext) return;
  try {
    // Its data dir need not exist yet: the engine makes a missing bind source (root's, as init-sync would),
    // and the instance that takes the standby is handed it (Confiner.base).
    services.driver.prepareNext(app.name, {
      app: app.name,
      release: 0,
      type: 'web',
      index: 1,
      command: '',
      releaseDir: '',
      dataDir: services.layout.data(app.name),
      env: {},
      logFile: `${services.layout.logs(app.name)}/app.log`,
      ...guestOf(services, app, 'web'),
    });
  } catch {
    // The deploy starts its instance as it would have.
  }
}

/** Where a swarm app's tasks may run: its `placement`, else (a prod app) the `env=prod` hosts, when the Swarm has any. */
function placementOf(app: App): { placement?: string[]; preferProd?: boolean } {
  const placement = settingsOf(app).get('placement');
  if (placement.length) return { placement };
  return app.env === 'prod' ? { preferProd: true } : {};
}

/** Starts one instance (`type.index`) of a release; pipeline/bring-up.ts is the only caller that may leave it running. */
export function startInstance(services: Services, app: App, release: RunnableRelease, type: string, index: number): Promise<Instance> {
  return services.driver.start({
    app: app.name,
    release: release.version,
    type,
    index,
    command: release.processTypes[type]!,
    releaseDir: release.dir,
    dataDir: services.layout.data(app.name),
    env: release.env,
    logFile: `${services.layout.logs(app.name)}/app.log`,
    mask: services.secrets?.masker(app.name),
    image: release.image,
    ...guestOf(services, app, type),
    ...placementOf(app),
  });
}

/**
 * Points the app's hosts — its default `APP.<domain>` and its custom domains,
 * read fresh from the store — at `instances`' web backends. Every caller
 * (activate, rollback, boot, `domains:add`/`remove`) goes through here, so a
 * route never forgets a domain. Nothing awaits between reading the domains and
 * handing the route to the router, so concurrent callers cannot interleave.
 */
export async function routeTo(services: Services, app: App, instances: Instance[]): Promise<void> {
  const backends = instances
    .filter((i) => i.type === 'web' && i.port)
    .map((i) => ({ id: i.id, host: i.host ?? '127.0.0.1', port: i.port! }));
  const hosts = [`${app.name}.${services.settings.domain}`, ...services.store.domains.forApp(app.id).map((d) => d.hostname)];
  await services.router.setRoute({ app: app.name, hosts, backends });
}

/** Stops instances, first letting requests already in flight to them finish. */
export async function stopInstances(services: Services, instances: Instance[]): Promise<void> {
  if (!instances.length) return;
  await services.router
    .drain(
      instances.map((i) => i.id),
      services.settings.stopGraceMs,
    )
    .catch(() => {});
  await Promise.all(instances.map((i) => services.driver.stop(i.id, { graceMs: services.settings.stopGraceMs })));
}
