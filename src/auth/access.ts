import { SlipwayError } from '../errors.js';
import type { App, Store, User } from '../store/index.js';
import { checkAppName } from './names.js';

/** How a user stands to an app. */
export type Relation = 'admin' | 'owner' | 'collaborator' | 'none';

/**
 * What a user may do with an app: `use` is everything a developer does
 * (push, fetch, config, ps, logs, releases, rollback, run, enter, domains …);
 * `manage` is deciding about the app itself (destroy it, share it, hand it
 * over); `reveal` is reading its secret config values in the clear.
 */
export type AccessLevel = 'use' | 'manage' | 'reveal';

/** The whole permission model, in one table. */
export const ALLOWED: Record<AccessLevel, readonly Relation[]> = {
  use: ['admin', 'owner', 'collaborator'],
  manage: ['admin', 'owner'],
  // Collaborators deploy with the secrets but see them masked (the 004 seed: owner or admin only).
  reveal: ['admin', 'owner'],
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

export function mayRevealSecrets(user: User, app: App): boolean {
  return ALLOWED.reveal.includes(relationTo(user, app));
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
