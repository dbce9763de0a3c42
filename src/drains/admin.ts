import { randomBytes } from 'node:crypto';
import type { EgressSettings } from '../egress/index.js';
import { SlipwayError, notFound } from '../errors.js';
import type { SecretBox } from '../secrets/box.js';
import type { App, Drain, Store } from '../store/index.js';
import { SEALED_PREFIX } from '../store/sealed.js';
import type { DrainStats } from './drain.js';
import type { DrainManager } from './manager.js';
import { SEAL_NAME, sealScope } from './manager.js';
import { checkDrainUrl, sameUrl } from './url.js';

/** What adding, listing and removing drains needs: the same for the CLI and the API. */
export interface DrainDeps {
  store: Store;
  secrets: SecretBox;
  egress: EgressSettings;
  /** The running daemon's drains; absent when the command runs without it (the change applies at its next start). */
  manager?: DrainManager;
}

/** A drain as listings show it: its URL masked, and what it did since the daemon started. */
export interface DrainView {
  id: number;
  url: string;
  token: string;
  createdAt: number;
  /** Absent when the daemon is not running the drain (not started, or its URL could not be opened). */
  stats?: DrainStats;
}

/** The drains an app may have at most: each one is a connection and a queue in the daemon. */
export const MAX_DRAINS_PER_APP = 10;

const view = (deps: DrainDeps, d: Drain): DrainView => ({
  id: d.id,
  url: d.url,
  token: `d.${d.token}`,
  createdAt: d.createdAt,
  stats: deps.manager?.stats(d.id),
});

/** Adds a drain to `app` (whose access the caller checked): the URL checked under the egress rules, a token in it sealed. */
export function addDrain(deps: DrainDeps, app: App, raw: string, admin: boolean): DrainView {
  const checked = checkDrainUrl(raw, { admin, settings: deps.egress });
  const existing = deps.store.drains.forApp(app.id);
  if (existing.some((d) => sameUrl(urlOf(deps, d), checked.url)))
    throw new SlipwayError('drain_exists', `${app.name} already drains to ${checked.shown}`, {
      status: 409,
      hint: `list them with \`slipway drains ${app.name}\``,
    });
  if (existing.length >= MAX_DRAINS_PER_APP)
    throw new SlipwayError('too_many_drains', `${app.name} has ${existing.length} drains, the most an app may have`, {
      status: 422,
      hint: `remove one first: \`slipway drains:remove ${app.name} ID\``,
    });
  const token = randomBytes(12).toString('hex');
  const sealedUrl = checked.secret ? deps.secrets.seal(sealScope(token), SEAL_NAME, checked.url).slice(SEALED_PREFIX.length) : null;
  const drain = deps.store.drains.add({ appId: app.id, token, url: checked.shown, sealedUrl });
  deps.manager?.reconcile();
  return view(deps, drain);
}

export function listDrains(deps: DrainDeps, app: App): DrainView[] {
  return deps.store.drains.forApp(app.id).map((d) => view(deps, d));
}

/** Removes the drain named by its id or its URL (as given when added, or as listed); lines still queued are dropped. */
export function removeDrain(deps: DrainDeps, app: App, ref: string): DrainView {
  const drains = deps.store.drains.forApp(app.id);
  const drain = /^\d{1,12}$/.test(ref)
    ? drains.find((d) => d.id === Number(ref))
    : drains.find((d) => sameUrl(d.url, ref) || sameUrl(urlOf(deps, d), ref));
  if (!drain)
    throw notFound(
      `drain ${JSON.stringify(ref.length > 60 ? `${ref.slice(0, 57)}...` : ref)} of ${app.name}`,
      `list them with \`slipway drains ${app.name}\``,
    );
  deps.store.drains.remove(app.id, drain.id);
  deps.manager?.reconcile();
  return view(deps, drain);
}

/** The drain's full URL: opened when it holds a token. */
function urlOf(deps: DrainDeps, d: Drain): string {
  if (d.sealedUrl === null) return d.url;
  try {
    return deps.secrets.open(sealScope(d.token), SEAL_NAME, SEALED_PREFIX + d.sealedUrl);
  } catch {
    return d.url;
  }
}
