import type { Db } from './db.js';
import { now } from './db.js';

export type CertSource = 'own' | 'acme';

/**
 * An app's TLS certificate. `chain` is PEM, leaf first; `sealedKey` is the
 * private key as the secrets box sealed it (the store never sees it plain).
 * An ACME row may exist before its first certificate: then the chain, key and
 * dates are null and `lastError` says why.
 */
export interface Cert {
  appId: number;
  appName: string;
  source: CertSource;
  /** The DNS names the certificate is for (its subjectAltName), as issued. */
  domains: string[];
  chain: string | null;
  sealedKey: string | null;
  /** SHA-256 fingerprint of the leaf, colon-separated hex. */
  fingerprint: string | null;
  issuer: string | null;
  notBefore: number | null;
  notAfter: number | null;
  lastAttemptAt: number | null;
  lastError: string | null;
  nextAttemptAt: number | null;
  /** Failed attempts in a row since the last certificate (ACME): the back-off's exponent. */
  failures: number;
  /** Set when the CA gave a time (Retry-After, a rate limit): no attempt, not even certs:auto, starts before it. */
  holdUntil: number | null;
  createdAt: number;
  updatedAt: number;
}

/** What `put` stores: a certificate that was checked and whose key is sealed. */
export interface NewCert {
  source: CertSource;
  domains: string[];
  chain: string;
  sealedKey: string;
  fingerprint: string;
  issuer: string;
  notBefore: number;
  notAfter: number;
}

const toCert = (r: any): Cert => ({
  appId: r.app_id,
  appName: r.app_name,
  source: r.source,
  domains: JSON.parse(r.domains),
  chain: r.chain,
  sealedKey: r.private_key,
  fingerprint: r.fingerprint,
  issuer: r.issuer,
  notBefore: r.not_before,
  notAfter: r.not_after,
  lastAttemptAt: r.last_attempt_at,
  lastError: r.last_error,
  nextAttemptAt: r.next_attempt_at,
  failures: r.failures ?? 0,
  holdUntil: r.hold_until ?? null,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const SELECT = 'SELECT c.*, a.name AS app_name FROM certs c JOIN apps a ON a.id = c.app_id';

/** One certificate per app; destroying the app deletes it (ON DELETE CASCADE). */
export class CertStore {
  constructor(private readonly db: Db) {}

  /** Sets the app's certificate, replacing any it had; attempt and error columns start clean. */
  put(appId: number, cert: NewCert): void {
    const t = now();
    this.db
      .prepare(
        `INSERT INTO certs (app_id, source, domains, chain, private_key, fingerprint, issuer, not_before, not_after, created_at, updated_at)
         VALUES (@appId, @source, @domains, @chain, @sealedKey, @fingerprint, @issuer, @notBefore, @notAfter, @t, @t)
         ON CONFLICT (app_id) DO UPDATE SET source = excluded.source, domains = excluded.domains, chain = excluded.chain,
           private_key = excluded.private_key, fingerprint = excluded.fingerprint, issuer = excluded.issuer,
           not_before = excluded.not_before, not_after = excluded.not_after, updated_at = excluded.updated_at,
           last_attempt_at = NULL, last_error = NULL, next_attempt_at = NULL, failures = 0, hold_until = NULL`,
      )
      .run({ ...cert, appId, domains: JSON.stringify(cert.domains), t });
  }

  /**
   * Records an ACME attempt on the app's row: when it was, its error (null:
   * it worked), when the next may start (null: when renewal is due) and the
   * failures in a row. Resolves false when the app has no row (any more).
   */
  recordAttempt(
    appId: number,
    a: { at: number; error: string | null; nextAttemptAt: number | null; failures: number; holdUntil?: number | null },
  ): boolean {
    return (
      this.db
        .prepare(
          'UPDATE certs SET last_attempt_at = ?, last_error = ?, next_attempt_at = ?, failures = ?, hold_until = ?, updated_at = ? WHERE app_id = ?',
        )
        .run(a.at, a.error, a.nextAttemptAt, a.failures, a.holdUntil ?? null, now(), appId).changes === 1
    );
  }

  /** False when the app had none. */
  remove(appId: number): boolean {
    return this.db.prepare('DELETE FROM certs WHERE app_id = ?').run(appId).changes === 1;
  }

  forApp(appId: number): Cert | undefined {
    const r = this.db.prepare(`${SELECT} WHERE c.app_id = ?`).get(appId);
    return r ? toCert(r) : undefined;
  }

  /** Every app's certificate, by app name. */
  list(): Cert[] {
    return this.db.prepare(`${SELECT} ORDER BY a.name`).all().map(toCert);
  }
}
