import { invalid } from '../errors.js';
import type { AuditEntry, Store, User } from '../store/index.js';
import { appFor, visibleApps } from './access.js';

/**
 * The audit log as the caller may see it: an admin sees everything (logins,
 * user changes, every app); anyone else sees the apps they may use.
 */
export function auditFor(ctx: { store: Store; user: User }, opts: { app?: string; limit: number }): AuditEntry[] {
  if (opts.app !== undefined) return ctx.store.audit.list({ app: appFor(ctx.store, ctx.user, opts.app).name, limit: opts.limit });
  if (ctx.user.role === 'admin') return ctx.store.audit.list({ limit: opts.limit });
  return ctx.store.audit.list({ apps: visibleApps(ctx.store, ctx.user).map((a) => a.name), limit: opts.limit });
}

export function parseLimit(v: unknown, fallback = 50): number {
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 10_000)
    throw invalid(`${JSON.stringify(String(v).slice(0, 20))} is not a number of entries`, 'use a whole number from 1 to 10000');
  return n;
}
