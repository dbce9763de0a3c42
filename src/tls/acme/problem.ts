import { SlipwayError } from '../../errors.js';
import { DEFAULT_LIFETIME_MS, nextAttempt } from './schedule.js';

/** What a CA said when it refused a request (RFC 8555 §6.7 problem document), with its Retry-After. */
export interface AcmeProblem {
  /** e.g. `urn:ietf:params:acme:error:rateLimited`. */
  type?: string;
  detail?: string;
  status: number;
  /** Milliseconds from when the answer came, from its Retry-After header (seconds or an HTTP date). */
  retryAfterMs?: number;
}

export const RATE_LIMITED = 'urn:ietf:params:acme:error:rateLimited';

/** An ACME order that failed: one line saying why, and what the CA asked for, so the renewal back-off can honour it. */
export class AcmeError extends SlipwayError {
  constructor(
    message: string,
    readonly problem?: AcmeProblem,
    opts: { hint?: string; cause?: unknown } = {},
  ) {
    super('acme_failed', message, { status: 502, hint: opts.hint ?? 'see `slipway certs:report` and docs/https.md', cause: opts.cause });
  }

  get rateLimited(): boolean {
    return this.problem?.type === RATE_LIMITED;
  }
}

/** Retry-After (RFC 9110 §10.2.3): seconds, or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: unknown, now = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (typeof text !== 'string' || !text.trim()) return undefined;
  if (/^\d+$/.test(text.trim())) return Number(text.trim()) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The problem document of an answer of 400 or more, if it is one. */
export function problemOf(resp: { status: number; headers?: Record<string, unknown>; data?: unknown }): AcmeProblem | undefined {
  if (resp.status < 400) return undefined;
  let data = resp.data as { type?: unknown; detail?: unknown } | string | undefined;
  if (typeof data === 'string') {
    try {
      data = JSON.parse(data) as { type?: unknown; detail?: unknown };
    } catch {
      data = undefined;
    }
  }
  const doc = typeof data === 'object' && data ? data : {};
  return {
    type: typeof doc.type === 'string' ? doc.type : undefined,
    detail: typeof doc.detail === 'string' ? doc.detail.replace(/\s+/g, ' ').slice(0, 300) : undefined,
    status: resp.status,
    retryAfterMs: parseRetryAfter(resp.headers?.['retry-after']),
  };
}

/** What a failed attempt leaves for the next one: the failures in a row, when to try again, and whether the CA set that time. */
export interface FailedAttempt {
  failures: number;
  nextAttemptAt: number;
  /** The CA's own time (Retry-After, a rate limit): nothing may order before it, certs:auto included. */
  holdUntil: number | null;
}

/**
 * The back-off after a failure of `err`, for a certificate with `previous`
 * failures in a row and these dates (null before the first certificate):
 * the same rule for an app's certificate and the API domain's.
 */
export function afterFailure(
  err: unknown,
  c: { now: number; previous: number; notBefore: number | null; notAfter: number | null },
): FailedAttempt {
  const acmeErr = err instanceof AcmeError ? err : undefined;
  const failures = c.previous + 1;
  const nextAttemptAt = nextAttempt({
    now: c.now,
    failures,
    lifetimeMs: c.notAfter !== null && c.notBefore !== null ? c.notAfter - c.notBefore : DEFAULT_LIFETIME_MS,
    remainingMs: c.notAfter === null ? undefined : Math.max(0, c.notAfter - c.now),
    retryAfterMs: acmeErr?.problem?.retryAfterMs,
    rateLimited: acmeErr?.rateLimited,
  });
  const caTime = acmeErr?.problem?.retryAfterMs !== undefined || acmeErr?.rateLimited;
  return { failures, nextAttemptAt, holdUntil: caTime ? nextAttemptAt : null };
}
