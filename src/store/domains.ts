import type { Db } from './db.js';
import { now } from './db.js';

export interface Domain {
  hostname: string;
  appId: number;
  appName: string;
  /** The owner of the app: a name and every name under it belong to one owner. */
  ownerId: number;
  createdAt: number;
}

const toDomain = (r: any): Domain => ({
  hostname: r.hostname,
  appId: r.app_id,
  appName: r.app_name,
  ownerId: r.owner_id,
  createdAt: r.created_at,
});

const SELECT = 'SELECT d.*, a.name AS app_name, a.owner_id FROM domains d JOIN apps a ON a.id = d.app_id';

/**
 * Custom host names an app is served at, besides its default `APP.<domain>`.
 * The hostname is the primary key: one name belongs to one app, and the
 * database says so even when two requests race. Callers validate and
 * normalise names (lowercase, no trailing dot) before they get here.
 */
export class DomainStore {
  constructor(private readonly db: Db) {}

  /** Adds `hostname` to the app; false when some app (this one included) already has it. */
  add(appId: number, hostname: string): boolean {
    const r = this.db.prepare('INSERT OR IGNORE INTO domains (hostname, app_id, created_at) VALUES (?, ?, ?)').run(hostname, appId, now());
    return r.changes === 1;
  }

  /** False when the app did not have it. */
  remove(appId: number, hostname: string): boolean {
    return this.db.prepare('DELETE FROM domains WHERE hostname = ? AND app_id = ?').run(hostname, appId).changes === 1;
  }

  /** The app's custom domains, in the order they were added. */
  forApp(appId: number): Domain[] {
    return this.db.prepare(`${SELECT} WHERE d.app_id = ? ORDER BY d.rowid`).all(appId).map(toDomain);
  }

  /**
   * Every stored name at any level of `hostname`: the name itself, the names
   * it is under (`shop.test` for `x.shop.test`) and the names under it.
   */
  around(hostname: string): Domain[] {
    const labels = hostname.split('.');
    const above = labels.slice(1).map((_, i) => labels.slice(i + 1).join('.'));
    const marks = above.map(() => '?').join(', ');
    return this.db
      .prepare(
        `${SELECT} WHERE d.hostname = ? OR d.hostname IN (${marks || "''"}) OR substr(d.hostname, -length(?) - 1) = '.' || ? ORDER BY d.rowid`,
      )
      .all(hostname, ...above, hostname, hostname)
      .map(toDomain);
  }

  /** Who serves `hostname`, if anyone. */
  byHostname(hostname: string): Domain | undefined {
    const r = this.db.prepare(`${SELECT} WHERE d.hostname = ?`).get(hostname);
    return r ? toDomain(r) : undefined;
  }
}
