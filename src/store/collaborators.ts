import type { Db } from './db.js';
import { now } from './db.js';

export interface Collaborator {
  appId: number;
  userId: number;
  userName: string;
  addedBy: string;
  createdAt: number;
}

/** Who besides the owner may use an app (`access:add`). Removing a user or an app removes their rows. */
export class CollaboratorStore {
  constructor(
    private readonly db: Db,
    /** Told after a change that can take access away (see Store.onAccessChange). */
    private readonly accessChanged: () => void = () => undefined,
  ) {}

  /** False when the user already was a collaborator. */
  add(appId: number, userId: number, addedBy: string): boolean {
    return (
      this.db
        .prepare('INSERT OR IGNORE INTO collaborators (app_id, user_id, added_by, created_at) VALUES (?, ?, ?, ?)')
        .run(appId, userId, addedBy, now()).changes > 0
    );
  }

  remove(appId: number, userId: number): boolean {
    const removed = this.db.prepare('DELETE FROM collaborators WHERE app_id = ? AND user_id = ?').run(appId, userId).changes > 0;
    if (removed) this.accessChanged();
    return removed;
  }

  list(appId: number): Collaborator[] {
    const rows = this.db
      .prepare('SELECT c.*, u.name AS user_name FROM collaborators c JOIN users u ON u.id = c.user_id WHERE c.app_id = ? ORDER BY u.name')
      .all(appId) as any[];
    return rows.map((r) => ({ appId: r.app_id, userId: r.user_id, userName: r.user_name, addedBy: r.added_by, createdAt: r.created_at }));
  }
}
