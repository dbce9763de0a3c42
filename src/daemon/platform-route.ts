import { ROUTER_KEY_HEADER } from '../api/client-address.js';
import { PLATFORM_ROUTE, type AppCertificate, type Route, type RouterEngine } from '../router/engine.js';
import { invalid } from '../errors.js';
import { loadPlatformCertificate, type PlatformCertificate } from '../tls/platform-cert.js';

/** Where the API and git over HTTP listen, as the router reaches them. */
export interface ApiBackend {
  host: string;
  port: number;
}

/**
 * The router the daemon hands to everything else, with the server's own
 * route (`--api-domain` → the API listener) and its certificate added to
 * what the apps set. App code sees only app routes and certificates: it
 * cannot list, replace or drop the platform's, and every publication of the
 * apps' certificates (certs:add, a renewal, a destroyed app) carries the
 * platform's along.
 */
export class PlatformRouter implements RouterEngine {
  readonly name: string;
  readonly listenTls?: RouterEngine['listenTls'];
  readonly setChallenges?: RouterEngine['setChallenges'];
  private appCerts: AppCertificate[] = [];
  private platformCert?: PlatformCertificate;

  constructor(
    readonly inner: RouterEngine,
    private readonly platform: {
      /** `--api-domain`; without it this adds nothing. */
      domain?: string;
      /** Sent as ROUTER_KEY_HEADER on the platform route: the API believes forwarded addresses only with it. */
      routerKey: string;
      /** The API domain's certificate at start (`--api-cert`); setPlatformCertificate replaces it. */
      certificate?: PlatformCertificate;
    },
  ) {
    this.name = inner.name;
    this.platformCert = platform.certificate;
    this.listenTls = inner.listenTls?.bind(inner);
    this.setChallenges = inner.setChallenges?.bind(inner);
  }

  get serves(): RouterEngine['serves'] {
    return this.inner.serves;
  }
  set serves(fn: RouterEngine['serves']) {
    this.inner.serves = fn;
  }
  get owns(): RouterEngine['owns'] {
    return this.inner.owns;
  }
  set owns(fn: RouterEngine['owns']) {
    this.inner.owns = fn;
  }
  get onAccess(): RouterEngine['onAccess'] {
    return this.inner.onAccess;
  }
  set onAccess(fn: RouterEngine['onAccess']) {
    this.inner.onAccess = fn;
  }
  get accessWanted(): RouterEngine['accessWanted'] {
    return this.inner.accessWanted;
  }
  set accessWanted(fn: RouterEngine['accessWanted']) {
    this.inner.accessWanted = fn;
  }

  /** Routes the API domain to the API listener; call once it listens. */
  async routeApi(api: ApiBackend): Promise<void> {
    if (!this.platform.domain) return;
    await this.inner.setRoute({
      app: PLATFORM_ROUTE,
      hosts: [this.platform.domain],
      backends: [{ id: `${PLATFORM_ROUTE}.api`, host: api.host, port: api.port }],
      headers: { [ROUTER_KEY_HEADER]: this.platform.routerKey },
    });
  }

  /** The seam for a given or ACME-issued certificate of the API domain: served at once, no restart. */
  async setPlatformCertificate(cert: PlatformCertificate | undefined): Promise<void> {
    this.platformCert = cert;
    await this.publish();
  }

  listen(port: number, hosts?: string | string[]): Promise<void> {
    return this.inner.listen(port, hosts);
  }

  async setCertificates(certs: AppCertificate[]): Promise<void> {
    this.appCerts = certs.filter((c) => c.app !== PLATFORM_ROUTE);
    await this.publish();
  }

  async setRoute(route: Route): Promise<void> {
    await this.inner.setRoute(ownRoute(route));
  }

  async removeRoute(app: string): Promise<void> {
    await this.inner.removeRoute(ownRoute({ app, hosts: [], backends: [] }).app);
  }

  routes(): Route[] {
    return this.inner.routes().filter((r) => r.app !== PLATFORM_ROUTE);
  }

  drain(backendIds: string[], timeoutMs: number): Promise<void> {
    return this.inner.drain(backendIds, timeoutMs);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private async publish(): Promise<void> {
    const own = this.platform.domain && this.platformCert ? [{ app: PLATFORM_ROUTE, ...this.platformCert }] : [];
    await this.inner.setCertificates?.([...this.appCerts, ...own]);
  }
}

/** App names start with a letter, so this never fires; it keeps a future caller from touching the platform's route by name. */
function ownRoute(route: Route): Route {
  if (route.app === PLATFORM_ROUTE) throw new Error(`${PLATFORM_ROUTE} is the server's own route`);
  return route;
}

/** `--api-cert acme`: the API domain's certificate comes from the ACME CA (tls/acme/platform.ts), kept and renewed. */
export const API_CERT_ACME = 'acme';

/** `--api-cert`/`--api-key`, checked as certs:add checks a pair; both or neither, and only with `--api-domain`. */
export function platformCertificate(
  opts: { apiCert?: string; apiKey?: string; extraCaBundle?: string },
  apiDomain: string | undefined,
): PlatformCertificate | undefined {
  if (opts.apiCert === API_CERT_ACME) {
    if (!apiDomain) throw invalid('--api-cert acme needs --api-domain', "give the server's own name: --api-domain paas.example.com");
    if (opts.apiKey) throw invalid('--api-cert acme takes no --api-key', 'the key is made with each ACME certificate: leave --api-key out');
    return undefined;
  }
  if (!opts.apiCert !== !opts.apiKey)
    throw invalid('--api-cert and --api-key go together', 'give the certificate chain file and its key file, or --api-cert acme');
  if (!opts.apiCert) return undefined;
  if (!apiDomain)
    throw invalid('--api-cert needs --api-domain', 'give the host name the certificate is for: --api-domain paas.example.com');
  const checked = loadPlatformCertificate({
    certFile: opts.apiCert,
    keyFile: opts.apiKey!,
    domain: apiDomain,
    extraCaBundle: opts.extraCaBundle,
  });
  return { chain: checked.chain, key: checked.key };
}

/** The API domain's base URL: https on the TLS port when it has a certificate there, else plain. */
export function apiUrlOf(domain: string, tlsPort: number | undefined, plainPort: number): string {
  if (tlsPort !== undefined) return `https://${domain}${tlsPort === 443 ? '' : `:${tlsPort}`}`;
  return `http://${domain}${plainPort === 80 ? '' : `:${plainPort}`}`;
}

/** Where the router reaches the API: the first bound address, or loopback for a wildcard one. */
export function loopbackFor(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '::1';
  return host;
}
