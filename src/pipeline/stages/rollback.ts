import fsp from 'node:fs/promises';
import type { StageFn } from '../context.js';
import { readAppJson } from '../app-json.js';
import { routeTo, startFormation, stopInstances } from '../formation.js';
import { awaitHealthy } from '../health-checks.js';
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
      const instances = await startFormation({
        services,
        app,
        version: prev,
        releaseDir: rt.dir,
        processTypes: rt.processTypes,
        env: rt.env,
        image: rt.image,
        log: ctx.log,
      });
      await awaitHealthy(services, app.name, instances, {
        timeoutMs: services.settings.healthTimeoutMs,
        signal: new AbortController().signal,
        checks: readAppJson(rt.dir).healthchecks.web,
      });
      // As in activate: the record moves first, the router right after it.
      services.store.apps.setCurrentRelease(app.id, prev);
      await routeTo(services, app, instances);
      await pointCurrent(services.layout.current(app.name), rt.dir);
    } else {
      services.store.apps.setCurrentRelease(app.id, null);
      await services.router.removeRoute(app.name);
      await fsp.rm(services.layout.current(app.name), { force: true });
    }
  }
  await stopInstances(services, ctx.started);
  ctx.started = [];
  if (ctx.mode !== 'editable' && ctx.release) {
    await fsp.rm(services.layout.release(app.name, ctx.release.version), { recursive: true, force: true });
  }
  ctx.log.info(prev != null ? `v${prev} is serving` : 'No release was live before this deploy');
};
