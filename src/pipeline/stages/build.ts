import type { StageFn } from '../context.js';
import { BUILDERS, chooseBuilder } from '../builders.js';

/**
 * Builds the release: buildpacks (Heroku buildpack API v2) on the host or in
 * a stack container, or the app's Dockerfile into an image — see builders.ts
 * for the choice.
 */
export const build: StageFn = async (ctx) => {
  const result = await BUILDERS[await chooseBuilder(ctx)](ctx);
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
