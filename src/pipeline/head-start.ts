import { settingsOf } from '../apps/settings.js';
import { driverFor } from '../runtime/kinds.js';
import type { App } from '../store/index.js';
import { prepareFirstBuild } from './builders.js';
import type { Services } from './context.js';
import type { DeployDeps } from './deploys.js';
import { prepareFirstStart } from './formation.js';

/**
 * An app's first deploy on its driver gets the head starts every later
 * deploy gets from the one before: its build's guest or container, and the
 * docker driver's standby. From `apps:create` and `apps:set APP driver=…`.
 *
 * Those hold a guest or container (and a uid) for `--build-keep-warm` with
 * no push to pay for them, so a member gets them for one app at a time: the
 * app that last got them holds the member's turn until that time is over or
 * it is deployed (a burst of creates, or of driver changes, starts them once;
 * destroying the app does not give the turn back). Admins are not bounded.
 *
 * They begin under the app's deploy lock, once what holds it is over: an
 * `apps:destroy` in progress (it holds the lock) would otherwise pass them
 * by, and leave a guest, a container and the app's dir made again behind it.
 * Returns when they have begun (or were not due).
 */
export function prepareFirstDeploy(d: DeployDeps, app: App): Promise<void> {
  const { services } = d;
  return d.queue.exclusive(app.id, async () => {
    try {
      const now = services.store.apps.byId(app.id);
      if (!now || now.name !== app.name || !takeTurn(services, now)) return;
      prepareFirstBuild(services, now);
      prepareFirstStart(services, now);
    } catch {
      // Only head starts (the store closed as the server stops): the deploy starts what it needs.
    }
  });
}

/** Whether `apps:set` moved the app to another driver (naming the one it already ran on does not). */
export function movedDriver(services: Services, before: App, after: App): boolean {
  const of = (a: App) => driverFor(settingsOf(a).get('driver'), services.settings.defaultDriver);
  return of(before) !== of(after);
}

interface Turn {
  appId: number;
  /** Its live release when it got the head starts: a deploy since used them. */
  release: number | null;
  until: number;
}

// Per server (tests run several in one process); gone with the daemon, as the head starts are.
const turns = new WeakMap<object, Map<number, Turn>>();

/** Whether `app` may have the head starts now; if so, it holds its owner's turn from now on. */
export function takeTurn(services: Pick<Services, 'store' | 'settings'>, app: App): boolean {
  if (services.store.users.byId(app.ownerId)?.role === 'admin') return true;
  let byOwner = turns.get(services);
  if (!byOwner) turns.set(services, (byOwner = new Map()));
  const held = byOwner.get(app.ownerId);
  if (held && held.appId !== app.id && held.until > Date.now()) {
    const holder = services.store.apps.byId(held.appId);
    if (!holder || holder.currentRelease === held.release) return false;
  }
  byOwner.set(app.ownerId, { appId: app.id, release: app.currentRelease, until: Date.now() + (services.settings.buildKeepWarmMs ?? 0) });
  return true;
}
