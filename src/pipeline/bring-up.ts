import type { Instance } from '../runtime/driver.js';
import type { App } from '../store/index.js';
import { readAppJson } from './app-json.js';
import type { Services } from './context.js';
import { desiredFormation, routeTo, startInstance, stopInstances, type RunnableRelease } from './formation.js';
import { awaitHealthy } from './health-checks.js';
import type { JobLog } from './job-log.js';

export interface BringUpOptions {
  /** Aborts the bring-up between steps and during health checks; what it started is stopped. */
  signal: AbortSignal;
  /** `type.index` pairs to start; default: the app's whole formation for this release. */
  instances?: Array<[type: string, index: number]>;
  /** Instances that keep serving beside the new ones, read at the switch (scale, restart). */
  keep?: () => Instance[];
  /**
   * Where each instance is recorded the moment it starts (a deploy's `started`,
   * which its rollback stops). Emptied again when the bring-up fails, since by
   * then those instances are stopped.
   */
  record?: Instance[];
  /** Says `Started web.1 on port …` (and, with `announceChecks`, which health checks run). */
  log?: JobLog;
  announceChecks?: boolean;
  /** Runs once every new instance is healthy, right before the router moves (the store's record of what is live). */
  beforeSwitch?: () => void;
  /** Undoes `beforeSwitch` when the router could not be moved. */
  switchFailed?: () => void;
}

/**
 * The one way a release's processes come up, for deploys, the on-error
 * rollback, a restarted daemon and `ps:scale`/`ps:restart`: start each
 * instance, health-check them, then point the router at them. Each instance is
 * recorded the moment it starts — the trap is armed before anything can fail —
 * and on any failure (a start, a health check, the switch, an abort) every
 * instance this call started is stopped again. The router only ever moves to
 * instances that passed their checks, and never moves when anything failed, so
 * it never points at a stopped instance. Returns the instances started.
 */
export async function bringUp(services: Services, app: App, release: RunnableRelease, opts: BringUpOptions): Promise<Instance[]> {
  const started = opts.record ?? [];
  const mine: Instance[] = [];
  const wanted = opts.instances ?? formationOf(services, app, release.processTypes);
  try {
    for (const [type, index] of wanted) {
      throwIfAborted(opts.signal);
      const instance = await startInstance(services, app, release, type, index);
      mine.push(instance);
      started.push(instance);
      opts.log?.info(
        `Started ${type}.${index}${instance.node ? ` on ${instance.node}` : ''}${instance.port ? `${instance.node ? ',' : ''} on port ${instance.port}` : ''}`,
      );
    }
    const checks = readAppJson(release.dir).healthchecks.web;
    if (opts.announceChecks) {
      opts.log?.info(
        checks.length
          ? `Running ${checks.length} health check${checks.length === 1 ? '' : 's'} from app.json`
          : `Waiting for web to answer HTTP (up to ${Math.round(services.settings.healthTimeoutMs / 1000)}s)`,
      );
    }
    await awaitHealthy(services, app.name, mine, { timeoutMs: services.settings.healthTimeoutMs, signal: opts.signal, checks });
    throwIfAborted(opts.signal);
    opts.beforeSwitch?.();
    try {
      // Compared by id: driver snapshots are fresh objects, and `keep` may already list the new ones.
      const ids = new Set(mine.map((i) => i.id));
      await routeTo(services, app, [...(opts.keep?.() ?? []).filter((i) => !ids.has(i.id)), ...mine]);
    } catch (err) {
      opts.switchFailed?.();
      throw err;
    }
    return mine;
  } catch (err) {
    // The router has not moved to any of these: stopping them takes nothing from what is served.
    await stopInstances(services, mine).catch(() => undefined);
    const stopped = new Set(mine.map((i) => i.id));
    for (let i = started.length - 1; i >= 0; i--) if (stopped.has(started[i]!.id)) started.splice(i, 1);
    throw err;
  }
}

/** `type.index` for every instance of the app's formation (stored counts, else `web=1`). */
export function formationOf(services: Services, app: App, processTypes: Record<string, string>): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  for (const [type, quantity] of Object.entries(desiredFormation(services, app, processTypes))) {
    for (let index = 1; index <= quantity; index++) out.push([type, index]);
  }
  return out;
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw signal.reason ?? new Error('the bring-up was cancelled');
}
