import { rotateReleases } from '../../releases/rotate.js';
import type { StageFn } from '../context.js';
import { settingsOf } from '../../apps/settings.js';

/** The RFC's post-install procedure: the user's hook runs after this; here, old releases are rotated. */
export const postInstall: StageFn = async (ctx) => {
  const { store, layout, settings } = ctx.services;
  const keep = settingsOf(ctx.app).get('releases.keep') ?? settings.keepReleases;
  // Heroku's semantics: a config release or a rollback makes its config the app's config.
  if (ctx.releaseKind === 'config' || ctx.releaseKind === 'rollback') store.apps.replaceConfig(ctx.app.id, ctx.config);
  const { driver } = ctx.services;
  const onPrune = async (version: number) => {
    // A rollback runs from its target's image: an image a kept release names stays.
    const keepImages = store.releases
      .list(ctx.app.id)
      .flatMap((r) => (r.version !== version && r.status !== 'pruned' && r.image ? [r.image] : []));
    // The deploy has succeeded by now: a leftover image is worth a warning, not a failed deploy.
    await driver
      .removeRelease?.(ctx.app.name, version, { keepImages })
      .catch((err: Error) => ctx.log.info(`Warning: could not remove what v${version} left in the runtime: ${err.message}`));
  };
  // The release counts as succeeded for rotation from here on; the runner marks it so when the job ends.
  const pruned = await rotateReleases({
    store,
    layout,
    appId: ctx.app.id,
    appName: ctx.app.name,
    keep,
    onPrune,
    deploying: ctx.release!.id,
  });
  if (pruned.length) ctx.log.info(`Pruned old releases: ${pruned.map((v) => `v${v}`).join(', ')}`);
};
