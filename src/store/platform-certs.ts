import type { Db } from './db.js';
import { now } from './db.js';

/**
 * The certificate of the server's own name (`--api-domain`) when it comes
 * from ACME: kept so a restart serves it at once and does not order again
 * (rate limits), with the renewal's last attempt and back-off.
 */
export interface PlatformCert {
  domain: string;
  chain: string | null;
  /** As the secrets box sealed it. */
  sealedKey: string | null;
  issuer: string | null;
  notBefore: number | null;
  notAfter: number | null;
  lastAttemptAt: number | null;
  lastError: string | null;
  nextAttemptAt: number | null;
  failures: number;
  /** The CA's own "not before" for the next order (Retry-After, rate limit). */
  holdUntil: number | null;
}

const toCert = (r: any): PlatformCert => ({
  domain: r.domain,
  chain: r.chain,
  sealedKey: r.private_key,
  issuer: r.issuer,
  notBefore: r.not_before,
  notAfter: r.not_after,
  lastAttemptAt: r.last_attempt_at,
  lastError: r.last_error,
  nextAttemptAt: r.next_attempt_at,
  failures: r.failures,
  holdUntil: r.hold_until,
});

export class PlatformCertStore {
  constructor(private readonly db: Db) {}

  get(domain: string): PlatformCert | undefined {
    const r = this.db.prepare('SELECT * FROM platform_certs WHERE domain = ?').get(domain);
    return r ? toCert(r) : undefined;
  }

  /** A new certificate: the attempt columns start clean. */
  put(domain: string, c: { chain: string; sealedKey: string; issuer: string; notBefore: number; notAfter: number; at: number }): void {
    this.db
      .prepare(
        `INSERT INTO platform_certs (domain, chain, private_key, issuer, not_before, not_after, last_attempt_at, updated_at)
         VALUES (@domain, @chain, @sealedKey, @issuer, @notBefore, @notAfter, @at, @t)
         ON CONFLICT (domain) DO UPDATE SET chain = excluded.chain, private_key = excluded.private_key, issuer = excluded.issuer,
           not_before = excluded.not_before, not_after = excluded.not_after, last_attempt_at = excluded.last_attempt_at,
           last_error = NULL, next_attempt_at = NULL, failures = 0, hold_until = NULL, updated_at = excluded.updated_at`,
      )
      .run({ domain, ...c, t: now() });
  }

  /** A failed attempt; what is served (chain, key) stays. */
  recordFailure(domain: string, f: { at: number; error: string; nextAttemptAt: number; failures: number; holdUntil: number | null }): void {
    this.db
      .prepare(
        `INSERT INTO platform_certs (domain, last_attempt_at, last_error, next_attempt_at, failures, hold_until, updated_at)
         VALUES (@domain, @at, @error, @nextAttemptAt, @failures, @holdUntil, @t)
         ON CONFLICT (domain) DO UPDATE SET last_attempt_at = excluded.last_attempt_at, last_error = excluded.last_error,
           next_attempt_at = excluded.next_attempt_at, failures = excluded.failures, hold_until = excluded.hold_until,
           updated_at = excluded.updated_at`,
      )
      .run({ domain, ...f, t: now() });
  }
}
