/**
 * When an ACME certificate is renewed, and how long a failure waits: pure
 * functions of the certificate's dates, the failures in a row and what the
 * CA asked for, so the sweep's every decision can be tested without a clock.
 */

export const DAY_MS = 86_400_000;
/** Renewal starts with this much life left at most (Let's Encrypt's 90-day certificates: 30 days, as certbot does). */
export const RENEW_BEFORE_MAX_MS = 30 * DAY_MS;
/** The longest wait between two failed attempts of our own choosing. */
export const BACKOFF_CAP_MS = DAY_MS;
/** A `rateLimited` answer without Retry-After waits at least this long. */
export const RATE_LIMIT_WAIT_MS = 3_600_000;
/** The lifetime assumed before there is a certificate (Let's Encrypt's). */
export const DEFAULT_LIFETIME_MS = 90 * DAY_MS;

export interface Dates {
  notBefore: number;
  notAfter: number;
}

/** When renewal is due: once the remaining life is below min(30 days, a third of the lifetime), so a 120 s certificate renews with 40 s left. */
export function renewalDue(c: Dates): number {
  const lifetime = Math.max(0, c.notAfter - c.notBefore);
  return c.notAfter - Math.min(RENEW_BEFORE_MAX_MS, lifetime / 3);
}

/**
 * The wait after the `failures`-th failure in a row: a base that doubles,
 * capped at a day. The base is a 64th of the lifetime (at most an hour, at
 * least a second): an hour for real certificates; for 120 s test
 * certificates about 2 s, so several retries fit before they expire. With
 * less than 8 waits of life left, the wait is an eighth of what is left.
 */
export function backoffMs(lifetimeMs: number, failures: number, remainingMs = Infinity): number {
  const base = backoffBase(lifetimeMs);
  // Near expiry the waits shrink with the time left (an eighth of it), never below the base: the last days see more tries.
  return Math.min(BACKOFF_CAP_MS, base * 2 ** Math.max(0, failures - 1), Math.max(base, remainingMs / 8));
}

export const backoffBase = (lifetimeMs: number) => Math.min(3_600_000, Math.max(1000, lifetimeMs / 64));

export interface Failure {
  now: number;
  /** Failures in a row, this one included. */
  failures: number;
  lifetimeMs: number;
  /** Until the served certificate expires (none: Infinity). */
  remainingMs?: number;
  /** From the CA's Retry-After header. */
  retryAfterMs?: number;
  /** The CA answered `urn:ietf:params:acme:error:rateLimited`. */
  rateLimited?: boolean;
}

/** When the next attempt may start: our back-off, but never before the time the CA gave (Retry-After, which may exceed the cap) or an hour after a rate limit that gave none. */
export function nextAttempt(f: Failure): number {
  let at = f.now + backoffMs(f.lifetimeMs, f.failures, f.remainingMs);
  if (f.retryAfterMs !== undefined) at = Math.max(at, f.now + f.retryAfterMs);
  else if (f.rateLimited) at = Math.max(at, f.now + RATE_LIMIT_WAIT_MS);
  return at;
}

/** What the sweep knows of one ACME certificate. */
export interface Candidate {
  appId: number;
  notBefore: number | null;
  notAfter: number | null;
  /** When the last failure said to try again; null after a success. */
  nextAttemptAt: number | null;
  /** False when the app's domains changed since it was issued (or it has none yet): due at once. */
  matchesDomains: boolean;
}

/** When the candidate should next be attempted. */
export function dueAt(c: Candidate): number {
  const due =
    c.notBefore === null || c.notAfter === null || !c.matchesDomains ? 0 : renewalDue({ notBefore: c.notBefore, notAfter: c.notAfter });
  return c.nextAttemptAt === null ? due : Math.max(due, c.nextAttemptAt);
}

/** The certificates due at `now`, most urgent first: none yet, then the one that expires first. */
export function dueNow<T extends Candidate>(all: T[], now: number): T[] {
  return all.filter((c) => dueAt(c) <= now).sort((a, b) => (a.notAfter ?? -Infinity) - (b.notAfter ?? -Infinity) || a.appId - b.appId);
}

/** When the sweep should wake next: the earliest due time, or undefined with nothing to renew. */
export function nextWake(all: Candidate[]): number | undefined {
  return all.length ? Math.min(...all.map(dueAt)) : undefined;
}
