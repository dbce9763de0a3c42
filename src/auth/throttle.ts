/**
 * Slows down password guessing: after `freeFailures` failed logins for one
 * (address, user name) pair, further attempts are refused for a while that
 * doubles with each failure, up to `maxLockMs`. A success clears the slate.
 * In memory on purpose: a restart forgets, which costs an attacker a restart
 * of someone else's server, and the state needs no table.
 */
export interface ThrottleOptions {
  freeFailures?: number;
  baseLockMs?: number;
  maxLockMs?: number;
  /** Failures older than this are forgotten. */
  windowMs?: number;
}

interface Entry {
  failures: number;
  lastAt: number;
  lockedUntil: number;
}

export class LoginThrottle {
  private readonly entries = new Map<string, Entry>();
  private readonly free: number;
  private readonly base: number;
  private readonly max: number;
  private readonly window: number;

  constructor(opts: ThrottleOptions = {}) {
    this.free = opts.freeFailures ?? 5;
    this.base = opts.baseLockMs ?? 30_000;
    this.max = opts.maxLockMs ?? 15 * 60_000;
    this.window = opts.windowMs ?? 15 * 60_000;
  }

  /** Milliseconds to wait before this pair may try again; 0 when it may try now. */
  waitMs(address: string, user: string, now = Date.now()): number {
    const e = this.entries.get(key(address, user));
    return e ? Math.max(0, e.lockedUntil - now) : 0;
  }

  failed(address: string, user: string, now = Date.now()): void {
    this.prune(now);
    const k = key(address, user);
    const old = this.entries.get(k);
    const e = old && now - old.lastAt <= this.window ? old : { failures: 0, lastAt: now, lockedUntil: 0 };
    e.failures++;
    e.lastAt = now;
    if (e.failures >= this.free) e.lockedUntil = now + Math.min(this.max, this.base * 2 ** (e.failures - this.free));
    this.entries.set(k, e);
  }

  succeeded(address: string, user: string): void {
    this.entries.delete(key(address, user));
  }

  private prune(now: number): void {
    if (this.entries.size < 10_000) return;
    for (const [k, e] of this.entries) if (now - e.lastAt > this.window && e.lockedUntil <= now) this.entries.delete(k);
  }
}

const key = (address: string, user: string) => `${address}\u0000${user.toLowerCase()}`;
