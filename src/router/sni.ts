import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { covers } from './cert-names.js';
import type { AppCertificate, Route } from './engine.js';
import { normalizeHost } from './table.js';

interface Prepared {
  source: AppCertificate;
  leaf: X509Certificate;
  context: tls.SecureContext;
}

/** What a TLS client's server name resolves to. */
export interface SniHit {
  app: string;
  context: tls.SecureContext;
  redirect: boolean;
  hstsMaxAge: number;
}

/**
 * Host name → secure context, for the SNICallback. Built from the routes
 * (which hosts each app has) and the certificates (which app has which), so
 * a certificate is only ever offered for its own app's hosts, and only for
 * those it covers. Every change builds a new map and swaps it in one
 * assignment: a handshake sees the old map or the new one, and established
 * connections keep the context they were made with.
 */
export class SniTable {
  private certs = new Map<string, Prepared>();
  private hosts = new Map<string, SniHit>();

  constructor(private readonly log: (msg: string) => void = () => undefined) {}

  /** Replaces every app's certificate; call `rebuild` with the routes after. */
  setCertificates(certs: AppCertificate[]): void {
    const next = new Map<string, Prepared>();
    for (const c of certs) {
      const old = this.certs.get(c.app);
      // An unchanged certificate keeps its context: parsing keys on every change would cost more than the change.
      if (old && old.source.chain === c.chain && old.source.key === c.key) {
        next.set(c.app, { ...old, source: { ...c } });
        continue;
      }
      try {
        next.set(c.app, {
          source: { ...c },
          leaf: new X509Certificate(c.chain),
          context: tls.createSecureContext({ cert: c.chain, key: c.key }),
        });
      } catch (err) {
        // Checked when it was added; one that fails now is left out rather than taking every other app down.
        this.log(`router: the certificate of ${c.app} cannot be used, its hosts get no TLS: ${(err as Error).message}`);
      }
    }
    this.certs = next;
  }

  /** Recomputes host → context from the current routes; one swap. */
  rebuild(routes: Route[]): void {
    const next = new Map<string, SniHit>();
    for (const route of routes) {
      const cert = this.certs.get(route.app);
      if (!cert) continue;
      const policy = { redirect: cert.source.redirect === true, hstsMaxAge: cert.source.hstsMaxAge ?? 0 };
      for (const host of route.hosts) if (covers(cert.leaf, host)) next.set(host, { app: route.app, context: cert.context, ...policy });
    }
    this.hosts = next;
  }

  lookup(servername: string | undefined): SniHit | undefined {
    return servername ? this.hosts.get(normalizeHost(servername)) : undefined;
  }
}
