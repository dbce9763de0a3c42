import type { Db } from './db.js';

/** A process type's stored limits; a missing field takes the server's default. */
export interface StoredLimits {
  memoryMb?: number;
  cpuShares?: number;
  pids?: number;
}

/**
 * Each app's own OS user and its limits per process type. A uid is taken
 * from a counter that only moves forward, so no uid is ever handed to a
 * second app: files a destroyed app left anywhere never become another's.
 */
export class GuestStore {
  constructor(private readonly db: Db) {}

  uidOf(appId: number): number | undefined {
    const row = this.db.prepare('SELECT uid FROM apps WHERE id = ?').get(appId) as { uid: number | null } | undefined;
    return row?.uid ?? undefined;
  }

  /**
   * The app's uid, allocated on first use from `[low, high]`, skipping ids
   * `taken` says belong to someone else on the host. Undefined when the
   * range is used up.
   */
  allocateUid(appId: number, low: number, high: number, taken: (uid: number) => boolean): number | undefined {
    return this.db.transaction(() => {
      const existing = this.uidOf(appId);
      if (existing !== undefined) return existing;
      const seq = this.db.prepare('SELECT next FROM uid_sequence WHERE id = 1').get() as { next: number } | undefined;
      let uid = Math.max(seq?.next ?? low, low);
      const used = this.db.prepare('SELECT 1 FROM apps WHERE uid = ?');
      while (uid <= high && (taken(uid) || used.get(uid))) uid++;
      if (uid > high) return undefined;
      this.db.prepare('UPDATE apps SET uid = ? WHERE id = ?').run(uid, appId);
      this.db.prepare('INSERT INTO uid_sequence (id, next) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET next = excluded.next').run(uid + 1);
      return uid;
    })();
  }

  limits(appId: number): Record<string, StoredLimits> {
    const rows = this.db
      .prepare('SELECT type, memory_mb, cpu_shares, pids FROM process_limits WHERE app_id = ? ORDER BY type')
      .all(appId) as any[];
    return Object.fromEntries(
      rows.map((r) => [
        r.type,
        strip({ memoryMb: r.memory_mb ?? undefined, cpuShares: r.cpu_shares ?? undefined, pids: r.pids ?? undefined }),
      ]),
    );
  }

  /** Merges `changes` into the type's limits; a null field goes back to the default. */
  setLimits(appId: number, type: string, changes: { [K in keyof StoredLimits]?: number | null }): void {
    const now = this.limits(appId)[type] ?? {};
    const next = { ...now, ...changes };
    const val = (v: number | null | undefined) => (v == null ? null : v);
    this.db
      .prepare('INSERT OR REPLACE INTO process_limits (app_id, type, memory_mb, cpu_shares, pids) VALUES (?, ?, ?, ?, ?)')
      .run(appId, type, val(next.memoryMb), val(next.cpuShares), val(next.pids));
  }
}

function strip(l: StoredLimits): StoredLimits {
  return Object.fromEntries(Object.entries(l).filter(([, v]) => v !== undefined)) as StoredLimits;
}
