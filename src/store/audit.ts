import type { Db } from './db.js';
import { now } from './db.js';

export type AuditOutcome = 'ok' | 'failed' | 'denied';

export interface AuditEntry {
  id: number;
  at: number;
  /** Null when nobody could be identified (a failed login with an unknown key). */
  userName: string | null;
  /** What was attempted: a command name (`config:set`), `push`, `login`, `POST /api/v1/apps/:app/builds` … */
  action: string;
  appName: string | null;
  /** Arguments worth keeping; never secret values (config:set records only the keys). */
  detail: Record<string, unknown>;
  /** From where: `cli`, `ssh 10.0.0.5`, `http 10.0.0.5`. */
  source: string;
  outcome: AuditOutcome;
}

export type NewAuditEntry = Omit<AuditEntry, 'id' | 'at'>;

const toEntry = (r: any): AuditEntry => ({
  id: r.id,
  at: r.at,
  userName: r.user_name,
  action: r.action,
  appName: r.app_name,
  detail: JSON.parse(r.detail),
  source: r.source,
  outcome: r.outcome,
});

/** The audit log: append-only; rows keep names, not ids, so they outlive the users and apps they mention. */
export class AuditStore {
  constructor(private readonly db: Db) {}

  record(e: NewAuditEntry): void {
    this.db
      .prepare('INSERT INTO audit_log (at, user_name, action, app_name, detail, source, outcome) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(now(), e.userName, e.action.slice(0, 200), e.appName, JSON.stringify(e.detail), e.source.slice(0, 200), e.outcome);
  }

  /**
   * Newest first. `apps` limits the entries to those apps (what a member may
   * see); undefined means every entry, server-wide ones included (admins).
   */
  list(opts: { app?: string; apps?: string[]; limit: number }): AuditEntry[] {
    const where: string[] = [];
    const params: unknown[] = [];
    if (opts.app !== undefined) {
      where.push('app_name = ?');
      params.push(opts.app);
    }
    if (opts.apps !== undefined) {
      where.push(`app_name IN (SELECT value FROM json_each(?))`);
      params.push(JSON.stringify(opts.apps));
    }
    const sql = `SELECT * FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
    return (this.db.prepare(sql).all(...params, opts.limit) as any[]).map(toEntry);
  }
}
