import { expect } from 'chai';
import { parseRetryAfter, problemOf } from '../../../src/tls/acme/problem.js';
import {
  BACKOFF_CAP_MS,
  DAY_MS,
  RATE_LIMIT_WAIT_MS,
  backoffMs,
  dueAt,
  dueNow,
  nextAttempt,
  nextWake,
  renewalDue,
  type Candidate,
} from '../../../src/tls/acme/schedule.js';

const T = Date.parse('2026-11-01T00:00:00Z');

describe('ACME renewal schedule', () => {
  it('renews with min(30 days, a third of the lifetime) left: day 60 of a 90-day certificate, 80 s into a 120 s one', () => {
    expect(renewalDue({ notBefore: T, notAfter: T + 90 * DAY_MS })).to.equal(T + 60 * DAY_MS);
    expect(renewalDue({ notBefore: T, notAfter: T + 365 * DAY_MS })).to.equal(T + 335 * DAY_MS);
    expect(renewalDue({ notBefore: T, notAfter: T + 120_000 })).to.equal(T + 80_000);
  });

  it('backs off from a 64th of the lifetime (an hour at most), doubling, capped at a day', () => {
    expect([1, 2, 3, 4].map((n) => backoffMs(120_000, n))).to.deep.equal([1875, 3750, 7500, 15_000]);
    expect([1, 2, 5, 6, 20].map((n) => backoffMs(90 * DAY_MS, n))).to.deep.equal([
      3_600_000,
      7_200_000,
      57_600_000,
      DAY_MS,
      BACKOFF_CAP_MS,
    ]);
    expect(backoffMs(10_000, 1)).to.equal(1000);
    // Close to expiry: an eighth of the time left, never below the base.
    expect(backoffMs(90 * DAY_MS, 6, 2 * DAY_MS)).to.equal(DAY_MS / 4);
    expect(backoffMs(120_000, 4, 20_000)).to.equal(2500);
    expect(backoffMs(120_000, 4, 1000)).to.equal(1875);
  });

  it('never tries before the time the CA gave: Retry-After wins over a shorter back-off, even past the one-day cap', () => {
    const lifetimeMs = 90 * DAY_MS;
    expect(nextAttempt({ now: T, failures: 1, lifetimeMs, retryAfterMs: 5000 })).to.equal(T + 3_600_000);
    expect(nextAttempt({ now: T, failures: 1, lifetimeMs, retryAfterMs: 3 * DAY_MS })).to.equal(T + 3 * DAY_MS);
    expect(nextAttempt({ now: T, failures: 1, lifetimeMs: 120_000, rateLimited: true })).to.equal(T + RATE_LIMIT_WAIT_MS);
    expect(nextAttempt({ now: T, failures: 1, lifetimeMs: 120_000, rateLimited: true, retryAfterMs: 60_000 })).to.equal(T + 60_000);
  });

  it('reads Retry-After as seconds or an HTTP date, and a rateLimited problem document with it', () => {
    expect(parseRetryAfter('120', T)).to.equal(120_000);
    expect(parseRetryAfter(new Date(T + 3_600_000).toUTCString(), T)).to.equal(3_600_000);
    expect(parseRetryAfter('soon', T)).to.equal(undefined);
    expect(parseRetryAfter(undefined, T)).to.equal(undefined);
    const p = problemOf({
      status: 429,
      headers: { 'retry-after': '3600' },
      data: { type: 'urn:ietf:params:acme:error:rateLimited', detail: 'too many certificates\n(5) already issued' },
    });
    expect(p).to.deep.equal({
      type: 'urn:ietf:params:acme:error:rateLimited',
      detail: 'too many certificates (5) already issued',
      status: 429,
      retryAfterMs: 3_600_000,
    });
    expect(problemOf({ status: 200, data: {} })).to.equal(undefined);
  });

  it('sweeps the due certificates most urgent first: none yet, then the one expiring first; the back-off holds one back', () => {
    const c = (appId: number, notAfter: number | null, extra: Partial<Candidate> = {}): Candidate => ({
      appId,
      notBefore: notAfter === null ? null : notAfter - 90 * DAY_MS,
      notAfter,
      nextAttemptAt: null,
      matchesDomains: true,
      ...extra,
    });
    const now = T + 70 * DAY_MS;
    const all = [
      c(1, T + 90 * DAY_MS), // 20 days left: due
      c(2, T + 80 * DAY_MS), // 10 days left: due, more urgent
      c(3, T + 120 * DAY_MS), // 50 days left: not due
      c(4, null), // no certificate yet: first
      c(5, T + 75 * DAY_MS, { nextAttemptAt: now + 60_000 }), // failed, backing off
      c(6, T + 200 * DAY_MS, { matchesDomains: false }), // a domain was added: due now
    ];
    expect(dueNow(all, now).map((x) => x.appId)).to.deep.equal([4, 2, 1, 6]);
    expect(dueAt(all[4]!)).to.equal(now + 60_000);
    expect(nextWake([c(3, T + 120 * DAY_MS), c(5, T + 75 * DAY_MS, { nextAttemptAt: now + 60_000 })])).to.equal(now + 60_000);
    expect(nextWake([])).to.equal(undefined);
  });
});
