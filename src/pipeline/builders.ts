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

/** The engine-backed builder of this server; the Docker one unless the services name another. */
export function imageBuilder(services: Services): ImageBuilder {
  services.imageBuilder ??= new DockerImageBuilder(services.layout.home);
  return services.imageBuilder;
}

/** This server's builders, one of each kind, made on first use. */
function builders(services: Services) {
  services.builders ??= createBuilders({ guestHost: services.guestHost, images: () => imageBuilder(services) });
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
    app,
    release: ctx.release!.version,
    jobId: ctx.job.id,
    buildDir: ctx.workDir,
    context:
      source.kind === 'git'
        ? { kind: 'git', repo: layout.repo(app.name), commit: source.commit, env: source.gitEnv }
        : { kind: 'dir', dir: ctx.workDir },
    get env() {
      return { ...config(), ...(source.kind === 'git' ? { SOURCE_VERSION: source.commit } : {}) };
    },
    envDir: layout.env(app.name),
    cacheDir: layout.cache(app.name),
    workDir: path.join(layout.app(app.name), 'tmp'),
    builtinDir: settings.buildpacksDir,
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
