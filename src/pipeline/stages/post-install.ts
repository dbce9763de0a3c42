import { rotateReleases } from '../../releases/rotate.js';
import type { StageFn } from '../context.js';
import { dropPrunedImage } from '../release-image.js';

/** The RFC's post-install procedure: the user's hook runs after this; here, old releases are rotated. */
export const postInstall: StageFn = async (ctx) => {
  const { store, layout, settings } = ctx.services;
  const keep = Number(ctx.app.settings['releases.keep'] ?? settings.keepReleases);
  // The release counts as succeeded for rotation purposes from here on.
  store.releases.finish(ctx.release!.id, 'succeeded');
  // Heroku's semantics: a config release or a rollback makes its config the app's config.
  if (ctx.releaseKind === 'config' || ctx.releaseKind === 'rollback') store.apps.replaceConfig(ctx.app.id, ctx.config);
  const pruned = await rotateReleases({ store, layout, appId: ctx.app.id, appName: ctx.app.name, keep, onPrune: (v) => dropPrunedImage(ctx.services, ctx.app.id, v) });
  if (pruned.length) ctx.log.info(`Pruned old releases: ${pruned.map((v) => `v${v}`).join(', ')}`);
};
