import net from 'node:net';
import { SlipwayError } from '../errors.js';
import type { App, Store, User } from '../store/index.js';
import { mayUse } from './access.js';

/** What the host-name rules need to know about the server. */
export interface HostSettings {
  /** Apps are served at APP.<domain>. */
  domain: string;
  /** The server's own name: git remotes, the API and the remote CLI use it. */
  publicHost: string;
  /** `--api-domain`: the name the router serves the API and git over HTTP at. */
  apiDomain?: string;
}

/**
 * The server's own host names, those no app may be served at. The API and
 * git over HTTP answer at the public host (there is no separate API host);
 * an IP address is no name to take.
 */
export function serverHosts(settings: HostSettings): string[] {
  const hosts = [settings.publicHost, settings.apiDomain ?? ''].map((h) => h.toLowerCase().replace(/\.$/, ''));
  return [...new Set(hosts.filter((h) => h && net.isIP(h) === 0))];
}

/**
 * App names that would put an app at the server's own name: the first label
 * of the public host (`paas` for paas.example.test), whatever the domain, so
 * that changing `--domain` later cannot hand the name to an app.
 */
export function isReservedAppName(name: string, settings: HostSettings): boolean {
  return serverHosts(settings).some((h) => h.split('.')[0] === name);
}

const within = (host: string, name: string) => host === name || host.endsWith(`.${name}`);

/**
 * Checks that `app` may be served at `host` (normalised by checkHostname, and
 * not the app's own default name). A browser sends a name's cookies to every
 * name under it, and lets a name under it set them, so a host name is claimed
 * with every level above and below it:
 * - under the platform domain, only names under the app's own default name
 *   (`x.herapp.DOMAIN`): `otherapp.DOMAIN` and `*.otherapp.DOMAIN` belong to
 *   `otherapp`, whether it exists yet or not;
 * - never the server's own host names, nor names under them;
 * - never a name that another app has, nor one above or below a name an app
 *   of another owner has (bob's `shop.test` rules out alice's `x.shop.test`,
 *   and the other way round).
 * Every refusal answers exactly like a name another app has, so the answer
 * does not tell which apps exist or why the name is taken.
 */
export function checkHostClaim(store: Store, settings: HostSettings, user: User, app: App, host: string): void {
  const domain = settings.domain.toLowerCase();
  const own = `${app.name}.${domain}`;
  // The API domain is public (every remote and login names it): saying so tells nothing about any app.
  const api = settings.apiDomain?.toLowerCase();
  if (api && within(host, api))
    throw new SlipwayError('domain_in_use', `${host} is ${host === api ? '' : 'under '}the server's own API domain (--api-domain ${api})`, {
      status: 409,
      hint: 'the API and git over HTTP are served there; give the app another host name',
    });
  if (within(host, domain) && !within(host, own)) throw hostTaken(host);
  if (serverHosts(settings).some((h) => within(host, h) && !within(host, own))) throw hostTaken(host);
  for (const d of store.domains.around(host)) {
    if (d.appId === app.id && d.hostname === host) continue;
    if (d.hostname !== host && d.ownerId === app.ownerId) continue;
    const other = store.apps.byId(d.appId);
    throw hostTaken(host, other && mayUse(user, other) ? { app: other.name, hostname: d.hostname } : undefined);
  }
}

/**
 * The one answer for a name that cannot be had. It names the app that has it
 * only to someone who may use that app.
 */
export function hostTaken(host: string, by?: { app: string; hostname: string }): SlipwayError {
  if (!by) {
    return new SlipwayError('domain_in_use', `${host} is already in use by another app`, {
      status: 409,
      hint: 'a host name belongs to one app; ask its owner or an admin to remove it first',
    });
  }
  const where = by.hostname === host ? `app ${by.app}` : `app ${by.app} (as ${by.hostname})`;
  return new SlipwayError('domain_in_use', `${host} is already in use by ${where}`, {
    status: 409,
    hint: `remove it there first: slipway domains:remove ${by.app} ${by.hostname}`,
  });
}

/**
 * Apps that already have the API domain or a name under it: as their default
 * name (APP.<domain>) or as a custom domain. The server refuses to start
 * with such an `--api-domain` rather than take the name from the app.
 */
export function apiDomainHolders(store: Store, settings: HostSettings): string[] {
  const api = settings.apiDomain?.toLowerCase();
  if (!api) return [];
  const holders = store.domains
    .around(api)
    .filter((d) => within(d.hostname, api))
    .map((d) => `${store.apps.byId(d.appId)?.name ?? '?'} (as ${d.hostname})`);
  const domain = settings.domain.toLowerCase();
  for (const app of store.apps.list()) if (within(`${app.name}.${domain}`, api)) holders.push(`${app.name} (as ${app.name}.${domain})`);
  return holders;
}
