import fs from 'node:fs';
import path from 'node:path';
import type { BuildOutcome, BuildRequest, Builder, ImageBuilder } from '../builder/builder.js';
import { BUILDER_FOR, createBuilders } from '../builder/builders.js';
import { DockerImageBuilder } from '../builder/docker-builder.js';
import { hasDockerfile } from '../builder/dockerfile.js';
import { mayUse } from '../auth/access.js';
import { DeployError } from '../errors.js';
import { driverFor } from '../runtime/kinds.js';
import type { DeployContext, Services } from './context.js';
import { checkBuildpacks } from './buildpack-egress.js';
import { revealConfig } from '../secrets/box.js';
import { settingsOf } from '../apps/settings.js';
import { BUILD_DIR } from './workspaces.js';
import { MODES, WORKSPACES } from './modes.js';
import type { App } from '../store/index.js';

/**
 * Builds the deploy's release with the builder its source and driver call
 * for (BUILDER_FOR, builder/builders.ts). The pipeline only picks and asks:
 * whether that runs in a guest, a container or an engine build is the
 * builder's. Buildpack builds have their buildpacks' origins checked first.
 */
export async function runBuild(ctx: DeployContext): Promise<BuildOutcome> {
  const builder = await chooseBuilder(ctx);
  const req = buildRequest(ctx);
  if (builder.runsBuildpacks) await checkBuildpacks(ctx, req.env);
  return builder.build(req);
}

/**
 * Starts the build's guest as the deploy begins, when a build will run on this
 * host (a buildpack build for the process driver, in a fresh build dir): its
 * runner boots while the archive is taken and the source checked out. A
 * build that turns out not to use it (a Dockerfile, a failure before) ends it.
 */
export function warmBuild(ctx: DeployContext): void {
  if (ctx.stages.build !== 'run' || ctx.workspace !== BUILD_DIR) return;
  const driver = driverFor(settingsOf(ctx.app).get('driver'), ctx.services.settings.defaultDriver);
  const kind = BUILDER_FOR.buildpacks[driver];
  const builder = kind && builders(ctx.services)[kind];
  if (!builder?.warmUp || liveFromDockerfile(ctx)) return;
  try {
    const user = ctx.services.guests?.userOf(ctx.app);
    if (user)
      builder.warmUp({
        ...buildDirs(ctx),
        app: ctx.app.name,
        jobId: ctx.job.id,
        user,
        extraCaBundle: ctx.services.settings.extraCaBundle,
        log: (line) => ctx.log.line(line),
        signal: ctx.signal,
      });
  } catch {
    // Only a head start: whatever stopped it, the build meets again and reports.
  }
}

/**
 * A Dockerfile app's next build is most likely one again: a buildpack
 * container warmed for it would only be started and removed, beside the
 * image build it competes with for the engine.
 */
function liveFromDockerfile(ctx: Pick<DeployContext, 'app' | 'services'>): boolean {
  const live = ctx.app.currentRelease == null ? undefined : ctx.services.store.releases.get(ctx.app.id, ctx.app.currentRelease);
  return !!live?.image;
}

/**
 * After a job that built the app, starts what its next build will run in
 * (the docker driver's container, see DockerImageBuilder.prepareNext; the
 * process driver's guest, see HostBuilder.prepareNext), so that the next push
 * does not wait for it. The app must still exist. Not for swarm apps: their
 * deploys wait for an image push and a service update that dwarf a
 * container's start, and the engine has enough to do meanwhile.
 */
export function prepareNextBuild(ctx: DeployContext): void {
  // An aborted job's server may be stopping, after it ended every next build.
  if (ctx.stages.build !== 'run' || ctx.workspace !== BUILD_DIR || ctx.signal.aborted) return;
  const app = ctx.services.store.apps.byId(ctx.app.id);
  if (app) prepareBuild(ctx.services, app, ctx.workDir);
}

/**
 * A new app's first build gets the same head start, from `apps:create` (and
 * from `apps:set driver=…`), in a mode that builds (not final): a guest on the
 * process driver, a container on the docker driver. Heroku's flow is create,
 * then push: a container's start is most of a small app's first docker
 * deploy, and one nobody pushes to goes after --build-keep-warm, as after a deploy.
 */
export function prepareFirstBuild(services: Services, app: App): void {
  if (MODES[app.mode].build !== 'run' || WORKSPACES[app.mode] !== BUILD_DIR) return;
  // A new app's own dir, which its deploy's init-sync would make: the builders make only the dirs inside it.
  try {
    fs.mkdirSync(services.layout.app(app.name), { recursive: true });
  } catch {
    return; // Only a head start: the deploy makes it, or says why it cannot.
  }
  prepareBuild(services, app, BUILD_DIR.workDir(services.layout, app.name));
}

function prepareBuild(services: Services, app: App, workDir: string): void {
  try {
    const driver = driverFor(settingsOf(app).get('driver'), services.settings.defaultDriver);
    if (driver === 'swarm') return;
    const kind = BUILDER_FOR.buildpacks[driver];
    const builder = kind && builders(services)[kind];
    if (!builder?.prepareNext || liveFromDockerfile({ services, app })) return;
    // Throws when the app has no uid and none is left (its deploy says so).
    const user = services.guests?.userOf(app);
    if (user)
      builder.prepareNext({
        ...buildDirsOf(services, app.name, workDir),
        app: app.name,
        user,
        extraCaBundle: services.settings.extraCaBundle,
      });
  } catch {
    // Only a head start, as warmBuild's.
  }
}

/** Ends the next builds' guests and containers of `app` (destroyed), or of every app (the server stops). */
export async function forgetNextBuilds(services: Services, app?: string): Promise<void> {
  await Promise.all([services.imageBuilder?.forget?.(app), ...Object.values(services.builders ?? {}).map((b) => b.forget?.(app))]);
}

/** Ends what warmBuild started if the build did not use it. */
export async function endWarmBuild(ctx: DeployContext): Promise<void> {
  const all = ctx.services.builders;
  if (all) await Promise.all(Object.values(all).map((b) => b.discard?.(ctx.job.id)));
}

/** Where a build works: the same for the build and the guest warmed for it. */
function buildDirs(ctx: DeployContext) {
  return buildDirsOf(ctx.services, ctx.app.name, ctx.workDir);
}

function buildDirsOf(services: Services, app: string, buildDir: string) {
  const { layout, settings } = services;
  return {
    buildDir,
    envDir: layout.env(app),
    cacheDir: layout.cache(app),
    workDir: path.join(layout.app(app), 'tmp'),
    builtinDir: settings.buildpacksDir,
  };
}

/** The engine-backed builder of this server; the Docker one unless the services name another. */
export function imageBuilder(services: Services): ImageBuilder {
  services.imageBuilder ??= new DockerImageBuilder(services.layout.home, services.settings.buildKeepWarmMs);
  return services.imageBuilder;
}

/** This server's builders, one of each kind, made on first use. */
function builders(services: Services) {
  services.builders ??= createBuilders({
    guestHost: services.guestHost,
    images: () => imageBuilder(services),
    keepWarmMs: services.settings.buildKeepWarmMs,
  });
  return services.builders;
}

/** Picks the builder for this deploy, or refuses a Dockerfile app on the process driver with what to do. */
export async function chooseBuilder(ctx: DeployContext): Promise<Builder> {
  const driver = driverFor(settingsOf(ctx.app).get('driver'), ctx.services.settings.defaultDriver);
  const wants = !forcedBuildpack(ctx) && (await hasDockerfile(ctx.workDir)) ? 'dockerfile' : 'buildpacks';
  const kind = BUILDER_FOR[wants][driver];
  if (!kind) {
    throw new DeployError(`${ctx.app.name} has a Dockerfile, and Dockerfile apps need the docker driver`, {
      app: ctx.app.name,
      hint: `slipway apps:set ${ctx.app.name} driver=docker (or name a buildpack: slipway apps:set ${ctx.app.name} buildpack_url=nodejs)`,
    });
  }
  return builders(ctx.services)[kind];
}

/** A buildpack named by the app (setting, BUILDPACK_URL, `.buildpacks`) wins over a Dockerfile, as in Dokku. */
function forcedBuildpack(ctx: DeployContext): boolean {
  return !!(settingsOf(ctx.app).get('buildpack_url') || ctx.config.BUILDPACK_URL || fs.existsSync(path.join(ctx.workDir, '.buildpacks')));
}

/**
 * The apps whose images a Dockerfile build may start from: those the user who
 * started the deploy may use (else, that user being gone, the app's owner).
 */
export function deployerMayUse(ctx: DeployContext): (app: string) => boolean {
  const { store } = ctx.services;
  const user = store.users.byName(ctx.job.userName) ?? store.users.byName(ctx.app.ownerName);
  return (name) => {
    const app = store.apps.byName(name);
    return !!user && !!app && mayUse(user, app);
  };
}

/**
 * What every builder is asked: the source, ENV_DIR, config, scratch space, the
 * app's user and the output sink. The opened config and the app's user are
 * worked out when a builder first reads them: a Dockerfile build needs
 * neither (its image runs as the app's user once started).
 */
function buildRequest(ctx: DeployContext): BuildRequest {
  const { layout, settings } = ctx.services;
  const { app, source } = ctx;
  const once = <T>(make: () => T) => {
    let value: { v: T } | undefined;
    return () => (value ??= { v: make() }).v;
  };
  // Buildpacks see secrets, as a process does; the job log masks them (see runner.ts).
  const config = once(() => revealConfig(ctx.services.secrets, app.name, ctx.config));
  const user = once(() => ctx.services.guests?.userOf(app));
  return {
    ...buildDirs(ctx),
    app,
    release: ctx.release!.version,
    jobId: ctx.job.id,
    context:
      source.kind === 'git'
        ? { kind: 'git', repo: layout.repo(app.name), commit: source.commit, env: source.gitEnv }
        : { kind: 'dir', dir: ctx.workDir },
    get env() {
      return { ...config(), ...(source.kind === 'git' ? { SOURCE_VERSION: source.commit } : {}) };
    },
    get buildpackUrl() {
      return settingsOf(app).get('buildpack_url') || config().BUILDPACK_URL || undefined;
    },
    extraCaBundle: settings.extraCaBundle,
    egress: settings.egress,
    get user() {
      return user();
    },
    mayUse: deployerMayUse(ctx),
    log: (line) => ctx.log.line(line),
    signal: ctx.signal,
    owner: ctx.services.orphans?.owner('deploy', ctx.job.id),
  };
}
