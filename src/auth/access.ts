import { SlipwayError } from '../errors.js';
import type { App, Store, User } from '../store/index.js';
import { checkAppName } from './names.js';

/** How a user stands to an app. */
export type Relation = 'admin' | 'owner' | 'collaborator' | 'none';

/**
 * What a user may do with an app: `use` is everything a developer does
 * (push, fetch, config — secret values included —, ps, logs, releases,
 * rollback, run, enter, domains …); `manage` is deciding about the app itself
 * (destroy it, share it, hand it over).
 *
 * There is no separate level for reading secrets, as on Heroku: whoever may
 * `run` in an app can print its environment, so a rule that masked secrets
 * from them would only pretend. Secrets are masked by default (listings, logs)
 * so that they do not leak by looking, not because a user may not see them.
 */
export type AccessLevel = 'use' | 'manage';

/** The whole permission model, in one table. */
export const ALLOWED: Record<AccessLevel, readonly Relation[]> = {
  use: ['admin', 'owner', 'collaborator'],
  manage: ['admin', 'owner'],
};

export function relationTo(user: User, app: App): Relation {
  if (user.role === 'admin') return 'admin';
  if (app.ownerId === user.id) return 'owner';
  if (app.collaboratorIds.includes(user.id)) return 'collaborator';
  return 'none';
}

export function mayUse(user: User, app: App): boolean {
  return ALLOWED.use.includes(relationTo(user, app));
}

/**
 * The one permission check every entrance uses (git over SSH and HTTP, SSH
 * commands, the CLI, the API, run and enter). An app the user may not use
 * answers exactly like an app that does not exist, so a denial never tells
 * whether a name is taken. Someone who may use the app but not `manage` it
 * already knows it exists and is told plainly who may.
 */
export function appFor(store: Store, user: User, name: string, level: AccessLevel = 'use'): App {
  checkAppName(name);
  const app = store.apps.byName(name);
  if (!app || !mayUse(user, app)) throw noSuchApp(name);
  if (!ALLOWED[level].includes(relationTo(user, app))) {
    throw new SlipwayError('forbidden', `only the owner of ${app.name} (${app.ownerName}) or an admin may do this`, {
      status: 403,
      hint: `ask ${app.ownerName} or an admin`,
    });
  }
  return app;
}

export function visibleApps(store: Store, user: User): App[] {
  return store.apps.list().filter((a) => mayUse(user, a));
}

export function requireAdmin(user: User, action: string): void {
  if (user.role !== 'admin')
    throw new SlipwayError('forbidden', `only an admin may ${action}`, { status: 403, hint: 'ask an admin of this Slipway server' });
}

export const noSuchApp = (name: string) =>
  new SlipwayError('app_not_found', `app "${name}" does not exist, or you have no access to it`, {
    status: 404,
    hint: `create it with \`slipway apps:create ${name}\`, or check the name with \`slipway apps:list\``,
  });
