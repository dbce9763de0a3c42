import { invalid } from '../errors.js';
import type { Instance } from '../runtime/driver.js';
import type { App } from '../store/index.js';
import type { Services } from './context.js';
import { bringUp } from './bring-up.js';
import { routeTo, stopInstances } from './formation.js';
import { liveRuntime, type ReleaseRuntime } from './release-runtime.js';

export const MAX_PER_TYPE = 100;

/** Instances of the live release that are meant to be running (crashed ones count: they restart). */
export function liveInstances(services: Services, app: App): Instance[] {
  return services.driver
    .instances(app.name)
    .filter((i) => i.release === app.currentRelease && i.state !== 'stopping' && i.state !== 'stopped');
}

/** Starts `wanted` of the live release and, once they are healthy, routes them beside `keep()`. */
function startHealthy(
  services: Services,
  app: App,
  rt: ReleaseRuntime,
  wanted: Array<[string, number]>,
  opts: { keep: () => Instance[]; beforeSwitch?: () => void },
): Promise<Instance[]> {
  return bringUp(services, app, rt, { instances: wanted, signal: AbortSignal.timeout(services.settings.healthTimeoutMs * 2), ...opts });
}

/** Parses `web=3 worker=2` against the live release's process types. */
export function parseScale(pairs: string[], processTypes: Record<string, string>): Record<string, number> {
  const wanted: Record<string, number> = {};
  for (const pair of pairs) {
    const m = /^([A-Za-z0-9_-]+)=(\d{1,3})$/.exec(pair);
    if (!m) throw invalid(`"${pair}" is not TYPE=COUNT`, 'e.g. slipway ps:scale myapp web=3 worker=1');
    const [, type, n] = m;
    if (!processTypes[type!] || type === 'release')
      throw invalid(
        `this release has no process type "${type}"`,
        `its types are: ${Object.keys(processTypes)
          .filter((t) => t !== 'release')
          .join(', ')}`,
      );
    if (Number(n) > MAX_PER_TYPE) throw invalid(`at most ${MAX_PER_TYPE} instances per type`);
    wanted[type!] = Number(n);
  }
  return wanted;
}

/**
 * Brings the live release to the wanted counts. Only the difference changes:
 * new instances start and pass health checks before they get traffic; surplus
 * ones leave the router, drain, then stop. Untouched instances keep running.
 */
export async function scale(
  services: Services,
  app: App,
  wanted: Record<string, number>,
): Promise<{ started: Instance[]; stopped: Instance[] }> {
  const rt = await liveRuntime(services, app);
  const current = liveInstances(services, app);
  const toStart: Array<[string, number]> = [];
  const toStop: Instance[] = [];
  for (const [type, n] of Object.entries(wanted)) {
    const have = current.filter((i) => i.type === type).sort((a, b) => a.index - b.index);
    const used = new Set(have.map((i) => i.index));
    for (let index = 1; toStart.filter(([t]) => t === type).length + have.length < n; index++)
      if (!used.has(index)) toStart.push([type, index]);
    toStop.push(...have.slice(n));
  }
  const started = await startHealthy(services, app, rt, toStart, {
    keep: () => current.filter((i) => !toStop.includes(i)),
    beforeSwitch: () => {
      for (const [type, n] of Object.entries(wanted)) services.store.apps.setFormation(app.id, type, n);
    },
  });
  await stopInstances(services, toStop);
  // A start may have taken what the driver had ready for the next one (the docker driver's standby).
  if (started.length) services.driver.prepareNext?.(app.name);
  return { started, stopped: toStop };
}

/**
 * Rolling restart, one instance at a time. A web instance is first covered by
 * a healthy surge instance, so the router never runs out of backends, and the
 * replacement keeps its name (web.1 stays web.1).
 */
export async function restart(services: Services, app: App, type?: string): Promise<number> {
  const rt = await liveRuntime(services, app);
  if (type && !rt.processTypes[type]) throw invalid(`this release has no process type "${type}"`);
  const targets = liveInstances(services, app).filter((i) => !type || i.type === type);
  for (const old of targets) {
    const others = () => liveInstances(services, app).filter((i) => i.id !== old.id);
    let surge: Instance[] = [];
    if (old.type === 'web') {
      const spare =
        Math.max(
          ...liveInstances(services, app)
            .filter((i) => i.type === 'web')
            .map((i) => i.index),
        ) + 1;
      surge = await startHealthy(services, app, rt, [['web', spare]], { keep: others });
    }
    await stopInstances(services, [old]);
    // Driver snapshots are fresh objects each call: compare by id, never by identity.
    const surgeIds = new Set(surge.map((i) => i.id));
    await startHealthy(services, app, rt, [[old.type, old.index]], { keep: () => others().filter((i) => !surgeIds.has(i.id)) });
    await stopInstances(services, surge);
  }
  if (targets.length) services.driver.prepareNext?.(app.name);
  return targets.length;
}

/** Stops every instance of the live release (or of one type); the formation is kept for ps:start. */
export async function stopAll(services: Services, app: App, type?: string): Promise<Instance[]> {
  const targets = liveInstances(services, app).filter((i) => !type || i.type === type);
  const ids = new Set(targets.map((i) => i.id));
  await routeTo(
    services,
    app,
    liveInstances(services, app).filter((i) => !ids.has(i.id)),
  );
  await stopInstances(services, targets);
  return targets;
}
