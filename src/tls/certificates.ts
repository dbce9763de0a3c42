import { X509Certificate } from 'node:crypto';
import { settingsOf, writeSetting } from '../apps/settings.js';
import { SlipwayError, invalid } from '../errors.js';
import type { AppCertificate, RouterEngine } from '../router/engine.js';
import type { SecretBox } from '../secrets/box.js';
import { SEALED_PREFIX } from '../store/sealed.js';
import type { App, Cert, CertSource, Store } from '../store/index.js';
import { checkCertificate, type CheckedCertificate } from './check.js';
import { covers } from '../router/cert-names.js';
import { splitBundle } from './pem.js';
import { trustedCas } from './trust.js';

/** What adding, removing and serving certificates needs. */
export interface CertDeps {
  store: Store;
  secrets: SecretBox;
  /** The live router, when the daemon runs; without it the next start serves the change. */
  router?: Pick<RouterEngine, 'setCertificates' | 'setChallenges'>;
  /** The server's `--extra-ca-bundle`: private roots a chain may end at. */
  extraCaBundle?: string;
  /** Apps are served at APP.<domain>. */
  domain: string;
  log?: (msg: string) => void;
}

/** The var name the key is sealed under: not a valid env var name, so no config value can be swapped in for it. */
const KEY_NAME = 'tls:private-key';

/**
 * Checks and stores an app's own certificate (`text` holds the chain and the
 * key, PEM), then hands every certificate to the router. A refusal stores
 * nothing and changes nothing served.
 */
export async function addOwnCertificate(deps: CertDeps, app: App, text: string): Promise<CheckedCertificate> {
  const custom = deps.store.domains.forApp(app.id).map((d) => d.hostname);
  const checked = checkCertificate({
    bundle: splitBundle(text),
    // Without custom domains the certificate must at least be for the app's own default name.
    domains: custom.length ? custom : [defaultHost(deps, app)],
    trusted: trustedCas(deps.extraCaBundle),
  });
  await storeCertificate(deps, app, checked, 'own');
  // An own certificate ends ACME for the app: it is never renewed.
  if (settingsOf(app).get('tls') === 'auto') writeSetting(deps.store, app, 'tls', undefined);
  return checked;
}

/**
 * Stores a checked certificate as the app's and hands every certificate to
 * the router. When the router refuses it (nginx -t), what is stored goes
 * back to what is served, and the error is thrown.
 */
export async function storeCertificate(deps: CertDeps, app: App, checked: CheckedCertificate, source: CertSource): Promise<void> {
  const previous = deps.store.certs.forApp(app.id);
  deps.store.certs.put(app.id, {
    source,
    domains: checked.names,
    chain: checked.chain,
    sealedKey: deps.secrets.seal(app.name, KEY_NAME, checked.key).slice(SEALED_PREFIX.length),
    fingerprint: checked.fingerprint,
    issuer: checked.issuer,
    notBefore: checked.notBefore,
    notAfter: checked.notAfter,
  });
  try {
    await publishCertificates(deps);
  } catch (err) {
    if (previous?.chain && previous.sealedKey)
      deps.store.certs.put(app.id, {
        ...previous,
        chain: previous.chain,
        sealedKey: previous.sealedKey,
        fingerprint: previous.fingerprint ?? '',
        issuer: previous.issuer ?? '',
        notBefore: previous.notBefore ?? 0,
        notAfter: previous.notAfter ?? 0,
      });
    else deps.store.certs.remove(app.id);
    throw err;
  }
}

/** False when the app had no certificate. Removing it ends ACME for the app too. */
export async function removeCertificate(deps: CertDeps, app: App): Promise<boolean> {
  if (settingsOf(app).get('tls') === 'auto') writeSetting(deps.store, app, 'tls', undefined);
  if (!deps.store.certs.remove(app.id)) return false;
  await publishCertificates(deps);
  return true;
}

/** Every stored certificate, keys opened, for the router. One that cannot be opened is left out and logged. */
export function servableCertificates(deps: Pick<CertDeps, 'store' | 'secrets' | 'log'>): AppCertificate[] {
  const out: AppCertificate[] = [];
  for (const c of deps.store.certs.list()) {
    if (!c.chain || !c.sealedKey) continue;
    try {
      const app = deps.store.apps.byId(c.appId);
      const settings = app && settingsOf(app);
      const policy = { redirect: settings?.get('tls.redirect') ?? false, hstsMaxAge: settings?.get('tls.hsts') ?? 0 };
      out.push({ app: c.appName, chain: c.chain, key: deps.secrets.open(c.appName, KEY_NAME, SEALED_PREFIX + c.sealedKey), ...policy });
    } catch (err) {
      deps.log?.(`tls: the certificate of ${c.appName} is not served: ${(err as Error).message}`);
    }
  }
  return out;
}

/** Replaces the router's certificates with the stored ones (engines without TLS ignore it). */
export async function publishCertificates(deps: Pick<CertDeps, 'store' | 'secrets' | 'router' | 'log'>): Promise<void> {
  await deps.router?.setCertificates?.(servableCertificates(deps));
}

export const defaultHost = (deps: Pick<CertDeps, 'domain'>, app: App) => `${app.name}.${deps.domain}`;

/** Own certificates are never renewed: report them this long before they expire. */
export const EXPIRY_WARNING_MS = 14 * 24 * 3600_000;

export interface CertStatus {
  cert: Cert;
  /** The app's hosts the certificate covers, so they are served over TLS. */
  served: string[];
  /** The app's custom domains it does not cover: plain HTTP only. */
  uncovered: string[];
  /** One line each: expiry, uncovered domains, the last renewal error. */
  warnings: string[];
}

/** How an app's certificate stands: for `certs:report` and the API. */
export function certStatus(deps: Pick<CertDeps, 'store' | 'domain'>, app: App, cert: Cert, now = Date.now()): CertStatus {
  const hosts = [defaultHost(deps, app), ...deps.store.domains.forApp(app.id).map((d) => d.hostname)];
  const leaf = cert.chain ? new X509Certificate(cert.chain) : undefined;
  const matches = (host: string) => (leaf ? covers(leaf, host) : false);
  const served = hosts.filter(matches);
  const uncovered = hosts.slice(1).filter((h) => !matches(h));
  const warnings: string[] = [];
  if (cert.notAfter !== null) {
    const left = cert.notAfter - now;
    const when = new Date(cert.notAfter).toISOString().slice(0, 10);
    if (left <= 0)
      warnings.push(
        `the certificate of ${app.name} expired on ${when}: browsers refuse it; ${cert.source === 'acme' ? 'see the last error below' : 'add a new one with certs:add'}`,
      );
    else if (cert.source === 'own' && left < EXPIRY_WARNING_MS)
      warnings.push(
        `the certificate of ${app.name} expires in ${Math.ceil(left / 86_400_000)} days (${when}); own certificates are not renewed: add a new one with certs:add`,
      );
  }
  for (const h of uncovered) warnings.push(`${h} is not covered by the certificate of ${app.name}: it is served over plain HTTP only`);
  if (cert.lastError) {
    const next = cert.nextAttemptAt ? `; next attempt ${new Date(cert.nextAttemptAt).toISOString()}` : '';
    warnings.push(`the last ACME attempt failed (${cert.failures} in a row): ${cert.lastError}${next}`);
  }
  return { cert, served, uncovered, warnings };
}

export const noCertificate = (app: App) =>
  new SlipwayError('not_found', `${app.name} has no certificate`, {
    status: 404,
    hint: `add one with \`slipway certs:add ${app.name} cert.pem key.pem\``,
  });

export const noCertificateText = () =>
  invalid('no certificate and key were given', 'give the certificate file and the key file: slipway certs:add APP cert.pem key.pem');
