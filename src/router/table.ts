import { SlipwayError } from '../errors.js';
import type { Backend, Route } from './engine.js';

/** What a request's Host header resolves to. `backend` is absent when the app has none running. */
export interface RouteHit {
  app: string;
  backend?: Backend;
  /** The route's own request headers (Route.headers). */
  headers?: Record<string, string>;
}

/**
 * The routing table: host names → app → backends, with a round-robin cursor
 * per app. Every change is one synchronous swap, so a request sees either the
 * old route or the new one, never a mix.
 */
export class RouteTable {
  private apps = new Map<string, { route: Route; next: number }>();
  private hosts = new Map<string, string>();

  /**
   * Replaces `route.app`'s route. A host already served by another app is
   * refused rather than silently stolen: moving a domain is an explicit
   * remove-then-add, so a typo cannot take another app's traffic.
   */
  set(route: Route): void {
    const hosts = [...new Set(route.hosts.map(normalizeHost).filter((h) => h !== ''))];
    for (const host of hosts) {
      const owner = this.hosts.get(host);
      if (owner !== undefined && owner !== route.app) {
        throw new SlipwayError('domain_in_use', `${host} is already served by ${owner}`, {
          status: 409,
          hint: `remove ${host} from ${owner} first`,
        });
      }
    }
    const nextHosts = new Map([...this.hosts].filter(([, app]) => app !== route.app));
    for (const host of hosts) nextHosts.set(host, route.app);
    const copy: Route = { app: route.app, hosts, backends: route.backends.map((b) => ({ ...b })) };
    if (route.headers) copy.headers = { ...route.headers };
    const nextApps = new Map(this.apps);
    // Keep the cursor so a redeploy does not send the next request to backend 0 every time.
    nextApps.set(route.app, { route: copy, next: this.apps.get(route.app)?.next ?? 0 });
    this.apps = nextApps;
    this.hosts = nextHosts;
  }

  remove(app: string): boolean {
    if (!this.apps.has(app)) return false;
    const nextApps = new Map(this.apps);
    nextApps.delete(app);
    this.hosts = new Map([...this.hosts].filter(([, owner]) => owner !== app));
    this.apps = nextApps;
    return true;
  }

  /**
   * Resolves a raw Host header and advances that app's round-robin cursor,
   * skipping backends `serves` says are not their instance's right now.
   */
  lookup(rawHost: string | undefined, serves?: (backendId: string) => boolean): RouteHit | undefined {
    const app = this.hosts.get(normalizeHost(rawHost ?? ''));
    if (app === undefined) return undefined;
    const entry = this.apps.get(app)!;
    const { backends, headers } = entry.route;
    for (let tried = 0; tried < backends.length; tried++) {
      const backend = backends[entry.next % backends.length]!;
      entry.next = (entry.next + 1) % backends.length;
      if (!serves || serves(backend.id)) return { app, backend, headers };
    }
    return { app, headers };
  }

  routes(): Route[] {
    return [...this.apps.values()].map(({ route }) => ({
      ...route,
      hosts: [...route.hosts],
      backends: route.backends.map((b) => ({ ...b })),
      ...(route.headers ? { headers: { ...route.headers } } : {}),
    }));
  }
}

/** `MyApp.Example.com.:8080` → `myapp.example.com`; `[::1]:80` → `[::1]`. */
export function normalizeHost(raw: string): string {
  let host = raw.trim().toLowerCase();
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    host = end === -1 ? host : host.slice(0, end + 1);
  } else {
    const colon = host.indexOf(':');
    if (colon !== -1) host = host.slice(0, colon);
  }
  return host.endsWith('.') ? host.slice(0, -1) : host;
}
