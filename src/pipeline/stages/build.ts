import path from 'node:path';
import { runBuildpacks } from '../../build/buildpacks.js';
import { revealConfig } from '../../secrets/box.js';
import type { StageFn } from '../context.js';

/** Runs the app's buildpacks in the build dir (Heroku buildpack API v2). */
export const build: StageFn = async (ctx) => {
  const { layout, settings, store } = ctx.services;
  const app = ctx.app.name;
  // Buildpacks see secrets, as a process does; the job log masks them (see queue.ts).
  const config = revealConfig(ctx.services.secrets, app, ctx.config);
  const result = await runBuildpacks({
    app,
    buildDir: ctx.workDir,
    cacheDir: layout.cache(app),
    envDir: layout.env(app),
    env: { ...config, ...(ctx.source.kind === 'git' ? { SOURCE_VERSION: ctx.source.commit } : {}) },
    builtinDir: settings.buildpacksDir,
    workDir: path.join(layout.app(app), 'tmp'),
    buildpackUrl: ctx.app.settings.buildpack_url || config.BUILDPACK_URL || undefined,
    extraCaBundle: settings.extraCaBundle,
    log: (line) => ctx.log.line(line),
    signal: ctx.signal,
  });
  ctx.buildpacks = result.buildpacks;
  ctx.processTypes = result.processTypes;
  ctx.configVars = result.configVars;
  store.releases.update(ctx.release!.id, { buildpacks: result.buildpacks, processTypes: result.processTypes });
};
