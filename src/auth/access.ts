import { SlipwayError } from '../errors.js';
import type { App, Store, User } from '../store/index.js';
import { checkAppName } from './names.js';

/**
 * The one permission check every entrance uses (git over SSH and HTTP, SSH
 * commands, the CLI, the API). An app the user may not use answers exactly like
 * an app that does not exist, so a denial never tells whether a name is taken.
 */
export function appFor(store: Store, user: User, name: string): App {
  checkAppName(name);
  const app = store.apps.byName(name);
  if (!app || !mayUse(user, app)) throw noSuchApp(name);
  return app;
}

export function mayUse(user: User, app: App): boolean {
  return user.role === 'admin' || app.ownerId === user.id;
}

/**
 * Secret config values are revealed only to the app's owner and admins — not
 * to everyone who may deploy it (collaborators see them masked).
 */
export function mayRevealSecrets(user: User, app: App): boolean {
  return user.role === 'admin' || app.ownerId === user.id;
}

export function visibleApps(store: Store, user: User): App[] {
  return store.apps.list().filter((a) => mayUse(user, a));
}

export function requireAdmin(user: User, action: string): void {
  if (user.role !== 'admin') throw new SlipwayError('forbidden', `only an admin may ${action}`, { status: 403, hint: 'ask an admin of this Slipway server' });
}

export const noSuchApp = (name: string) =>
  new SlipwayError('app_not_found', `app "${name}" does not exist, or you have no access to it`, {
    status: 404,
    hint: `create it with \`slipway apps:create ${name}\`, or check the name with \`slipway apps:list\``,
  });
