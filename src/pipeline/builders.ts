import fs from 'node:fs';
import path from 'node:path';
import { runBuildpacks } from '../builder/buildpacks.js';
import { writeEnvDir } from '../builder/build-env.js';
import { buildSandbox } from './guests.js';
import { buildInGuest } from './guest-build.js';
import type { BuildOutcome, BuilderKind, ImageBuilder } from '../builder/builder.js';
import { DockerImageBuilder } from '../builder/docker-builder.js';
import { hasDockerfile } from '../builder/dockerfile.js';
import { readDockerfile } from '../builder/dockerfile-from.js';
import { mayUse } from '../auth/access.js';
import { readProcfile } from '../builder/procfile.js';
import { DeployError } from '../errors.js';
import { driverFor, type DriverKind } from '../runtime/kinds.js';
import type { DeployContext, Services } from './context.js';
import { checkBuildpacks } from './buildpack-egress.js';
import { revealConfig } from '../secrets/box.js';
import { settingsOf } from '../apps/settings.js';

/**
 * The choice as data: what the source asks for × the driver the app runs
 * with. A Dockerfile app cannot be built for host processes (undefined).
 */
const BUILDER: Record<'buildpacks' | 'dockerfile', Record<DriverKind, BuilderKind | undefined>> = {
  buildpacks: { process: 'host', docker: 'container' },
  dockerfile: { process: undefined, docker: 'dockerfile' },
};

export const BUILDERS: Record<BuilderKind, (ctx: DeployContext) => Promise<BuildOutcome>> = {
  host: async (ctx) => {
    const opts = {
      ...buildpackOptions(ctx),
      cacheDir: ctx.services.layout.cache(ctx.app.name),
      builtinDir: ctx.services.settings.buildpacksDir,
    };
    await checkBuildpacks(ctx, opts.env);
    // Written before the sandbox is made, so the sandbox can hand ENV_DIR to the app's user.
    await writeEnvDir(opts.envDir, opts.env);
    const inGuest = await buildInGuest(ctx.services, ctx.app, ctx.job.id, { ...opts, envDirReady: true });
    if (inGuest) return inGuest;
    const sandbox = await buildSandbox(ctx.services, ctx.app, ctx.job.id, opts);
    return runBuildpacks({ ...opts, envDirReady: true, sandbox });
  },
  container: async (ctx) => {
    const opts = buildpackOptions(ctx);
    await checkBuildpacks(ctx, opts.env);
    const builder = imageBuilder(ctx.services);
    await builder.ready();
    ctx.log.line('-----> Building inside a container from the stack image');
    return builder.buildpacks({
      ...opts,
      release: ctx.release!.version,
      builtinDir: ctx.services.settings.buildpacksDir,
      user: ctx.services.guests?.userOf(ctx.app),
    });
  },
  dockerfile: async (ctx) => {
    const builder = imageBuilder(ctx.services);
    await builder.ready();
    const { app, source } = ctx;
    ctx.log.line('-----> Dockerfile app detected: building its image');
    const context =
      source.kind === 'git'
        ? { kind: 'git' as const, repo: ctx.services.layout.repo(app.name), commit: source.commit, env: source.gitEnv }
        : { kind: 'dir' as const, dir: ctx.workDir };
    const image = await builder.dockerfile({
      app: app.name,
      release: ctx.release!.version,
      context,
      dockerfile: await readDockerfile(ctx.workDir),
      mayUse: deployerMayUse(ctx),
      log: (l) => ctx.log.line(`       ${l}`),
      signal: ctx.signal,
    });
    ctx.log.line(`-----> Built image ${image.replace(/^sha256:/, '').slice(0, 12)}`);
    // The Procfile's commands run in the image; without a `web:` line, web runs the image's own CMD ('').
    return { buildpacks: [], processTypes: { web: '', ...(await readProcfile(ctx.workDir)) }, configVars: {}, image };
  },
};

/** The engine-backed builder of this server; the Docker one unless the services name another. */
export function imageBuilder(services: Services): ImageBuilder {
  services.imageBuilder ??= new DockerImageBuilder(services.layout.home);
  return services.imageBuilder;
}

/** Picks the builder for this deploy, or refuses a Dockerfile app on the process driver with what to do. */
export async function chooseBuilder(ctx: DeployContext): Promise<BuilderKind> {
  const driver = driverFor(settingsOf(ctx.app).get('driver'), ctx.services.settings.defaultDriver);
  const wants = !forcedBuildpack(ctx) && (await hasDockerfile(ctx.workDir)) ? 'dockerfile' : 'buildpacks';
  const kind = BUILDER[wants][driver];
  if (!kind) {
    throw new DeployError(`${ctx.app.name} has a Dockerfile, and Dockerfile apps need the docker driver`, {
      app: ctx.app.name,
      hint: `slipway apps:set ${ctx.app.name} driver=docker (or name a buildpack: slipway apps:set ${ctx.app.name} buildpack_url=nodejs)`,
    });
  }
  return kind;
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

/** What host and container builds share: the source, ENV_DIR, config, scratch space and the output sink. */
function buildpackOptions(ctx: DeployContext) {
  const { layout, settings } = ctx.services;
  const app = ctx.app.name;
  // Buildpacks see secrets, as a process does; the job log masks them (see queue.ts).
  const config = revealConfig(ctx.services.secrets, app, ctx.config);
  return {
    app,
    buildDir: ctx.workDir,
    envDir: layout.env(app),
    env: { ...config, ...(ctx.source.kind === 'git' ? { SOURCE_VERSION: ctx.source.commit } : {}) },
    workDir: path.join(layout.app(app), 'tmp'),
    buildpackUrl: settingsOf(ctx.app).get('buildpack_url') || config.BUILDPACK_URL || undefined,
    extraCaBundle: settings.extraCaBundle,
    egress: settings.egress,
    log: (line: string) => ctx.log.line(line),
    signal: ctx.signal,
    owner: ctx.services.orphans?.owner('deploy', ctx.job.id),
  };
}
