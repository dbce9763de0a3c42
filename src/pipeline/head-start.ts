import type { App } from '../store/index.js';
import { prepareFirstBuild } from './builders.js';
import type { Services } from './context.js';
import { prepareFirstStart } from './formation.js';

/**
 * An app's first deploy on its driver gets the head starts every later
 * deploy gets from the one before: its build's guest or container, and the
 * docker driver's standby. From `apps:create` and `apps:set APP driver=…`.
 *
 * Those hold a container each for `--build-keep-warm`, with no push to pay
 * for them: a member's burst of `apps:create` gets them for one app at a
 * time (none while another app of the same owner, not yet deployed, was
 * created within that time; admins are not bounded). An app already deployed has one of each at
 * most, as after each of its deploys.
 */
export function prepareFirstDeploy(services: Services, app: App): void {
  if (app.currentRelease == null && othersWaiting(services, app)) return;
  prepareFirstBuild(services, app);
  prepareFirstStart(services, app);
}

function othersWaiting(services: Services, app: App): boolean {
  // An admin owns the host already: nothing to bound.
  if (services.store.users.byId(app.ownerId)?.role === 'admin') return false;
  const since = Date.now() - (services.settings.buildKeepWarmMs ?? 0);
  return services.store.apps
    .list()
    .some((a) => a.id !== app.id && a.ownerId === app.ownerId && a.currentRelease == null && a.createdAt >= since);
}
