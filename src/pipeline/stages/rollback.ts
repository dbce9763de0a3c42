import fsp from 'node:fs/promises';
import type { StageFn } from '../context.js';
import { bringUp } from '../bring-up.js';
import { stopInstances } from '../formation.js';
import { releaseRuntime } from '../release-runtime.js';
import { pointCurrent } from './activate.js';

/**
 * The RFC's rollback procedure. Before the switch there is nothing to undo but
 * the new release's leftovers. After it, the previous release is started again
 * from its directory and the router switched back before the new one stops.
 */
export const rollback: StageFn = async (ctx) => {
  const { services, app } = ctx;
  const prev = ctx.previous.version;
  if (ctx.switched) {
    if (prev != null) {
      const rt = await releaseRuntime(services, app, prev);
      // The path activate took, for the previous release. It must come up even
      // while the deploy is being cancelled, so the deploy's signal is not its.
      // Should it fail, it stops what it started and the new release keeps serving.
      await bringUp(services, app, rt, {
        signal: new AbortController().signal,
        log: ctx.log,
        // As in activate: the record moves first, the router right after it.
        beforeSwitch: () => services.store.apps.setCurrentRelease(app.id, prev),
        switchFailed: () => services.store.apps.setCurrentRelease(app.id, ctx.release!.version),
      });
      await pointCurrent(services.layout.current(app.name), rt.dir);
    } else {
      services.store.apps.setCurrentRelease(app.id, null);
      await services.router.removeRoute(app.name);
      await fsp.rm(services.layout.current(app.name), { force: true });
    }
  }
  await stopInstances(services, ctx.started);
  ctx.started = [];
  if (ctx.release) await ctx.workspace.discard(services.layout, app.name, ctx.release.version);
  ctx.log.info(prev != null ? `v${prev} is serving` : 'No release was live before this deploy');
};
