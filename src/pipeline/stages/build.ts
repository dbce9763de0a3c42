import type { StageFn } from '../context.js';
import { runBuild } from '../builders.js';

/**
 * Builds the release: buildpacks (Heroku buildpack API v2) on the host or in
 * a stack container, or the app's Dockerfile into an image — builders.ts
 * picks the builder (builder/builders.ts holds them and the table).
 */
export const build: StageFn = async (ctx) => {
  const result = await runBuild(ctx);
  ctx.buildpacks = result.buildpacks;
  ctx.processTypes = result.processTypes;
  ctx.configVars = result.configVars;
  ctx.image = result.image;
  ctx.services.store.releases.update(ctx.release!.id, {
    buildpacks: result.buildpacks,
    processTypes: result.processTypes,
    ...(result.image ? { image: result.image } : {}),
  });
};
