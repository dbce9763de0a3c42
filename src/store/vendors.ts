import type { Db } from './db.js';
import { now } from './db.js';

/** A user's account at a git provider (`vendors:add`); `token` stays sealed by the secrets box. */
export interface VendorAccount {
  id: number;
  userId: number;
  vendor: string;
  /** Where its repositories are: `github.com`, or a base URL such as `http://127.0.0.1:8080` for a self-hosted one. */
  host: string;
  username: string;
  /** Sealed (secrets/box.ts); only the fetch opens it. */
  token: string;
  createdAt: number;
}

const toAccount = (r: any): VendorAccount => ({
  id: r.id,
  userId: r.user_id,
  vendor: r.vendor,
  host: r.host,
  username: r.username,
  token: r.token,
  createdAt: r.created_at,
});

/** Vendor accounts, one per user, vendor and host. */
export class VendorStore {
  constructor(private readonly db: Db) {}

  /** Adds or replaces the user's account for that vendor and host. */
  put(a: { userId: number; vendor: string; host: string; username: string; token: string }): VendorAccount {
    this.db
      .prepare(
        `INSERT INTO vendor_accounts (user_id, vendor, host, username, token, created_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (user_id, vendor, host) DO UPDATE SET username = excluded.username, token = excluded.token`,
      )
      .run(a.userId, a.vendor, a.host, a.username, a.token, now());
    return toAccount(
      this.db.prepare('SELECT * FROM vendor_accounts WHERE user_id = ? AND vendor = ? AND host = ?').get(a.userId, a.vendor, a.host),
    );
  }

  list(userId: number): VendorAccount[] {
    return (this.db.prepare('SELECT * FROM vendor_accounts WHERE user_id = ? ORDER BY vendor, host').all(userId) as any[]).map(toAccount);
  }

  /** The first of `userIds` (in that order) with an account for `vendor` at `host`. */
  find(userIds: number[], vendor: string, host: string): VendorAccount | undefined {
    const q = this.db.prepare('SELECT * FROM vendor_accounts WHERE user_id = ? AND vendor = ? AND host = ?');
    for (const id of userIds) {
      const r = q.get(id, vendor, host);
      if (r) return toAccount(r);
    }
    return undefined;
  }

  remove(userId: number, vendor: string, host?: string): number {
    return host === undefined
      ? this.db.prepare('DELETE FROM vendor_accounts WHERE user_id = ? AND vendor = ?').run(userId, vendor).changes
      : this.db.prepare('DELETE FROM vendor_accounts WHERE user_id = ? AND vendor = ? AND host = ?').run(userId, vendor, host).changes;
  }
}

/** Each app's push-webhook secret (sealed) and the delivery ids already acted on. */
export class HookStore {
  constructor(private readonly db: Db) {}

  secret(appId: number): string | undefined {
    return (this.db.prepare('SELECT secret FROM app_hooks WHERE app_id = ?').get(appId) as any)?.secret;
  }

  setSecret(appId: number, sealed: string): void {
    this.db.prepare('INSERT OR REPLACE INTO app_hooks (app_id, secret, created_at) VALUES (?, ?, ?)').run(appId, sealed, now());
  }

  /** Records a delivery id; false when it was seen before (a replay). Ids older than `keepMs` are forgotten. */
  firstDelivery(appId: number, delivery: string, keepMs = 30 * 86_400_000): boolean {
    const t = now();
    this.db.prepare('DELETE FROM hook_deliveries WHERE received_at < ?').run(t - keepMs);
    return (
      this.db.prepare('INSERT OR IGNORE INTO hook_deliveries (app_id, delivery, received_at) VALUES (?, ?, ?)').run(appId, delivery, t)
        .changes > 0
    );
  }
}

/** Which apps are previews: of which parent, for which branch, last pushed when. */
export interface PreviewLink {
  appId: number;
  parentId: number;
  branch: string;
  pushedAt: number;
}

const toLink = (r: any): PreviewLink => ({ appId: r.app_id, parentId: r.parent_id, branch: r.branch, pushedAt: r.pushed_at });

export class PreviewStore {
  constructor(private readonly db: Db) {}

  link(appId: number, parentId: number, branch: string): void {
    this.db
      .prepare('INSERT OR REPLACE INTO previews (app_id, parent_id, branch, pushed_at) VALUES (?, ?, ?, ?)')
      .run(appId, parentId, branch, now());
  }

  touch(appId: number): void {
    this.db.prepare('UPDATE previews SET pushed_at = ? WHERE app_id = ?').run(now(), appId);
  }

  of(appId: number): PreviewLink | undefined {
    const r = this.db.prepare('SELECT * FROM previews WHERE app_id = ?').get(appId);
    return r ? toLink(r) : undefined;
  }

  forBranch(parentId: number, branch: string): PreviewLink | undefined {
    const r = this.db.prepare('SELECT * FROM previews WHERE parent_id = ? AND branch = ?').get(parentId, branch);
    return r ? toLink(r) : undefined;
  }

  children(parentId: number): PreviewLink[] {
    return (this.db.prepare('SELECT * FROM previews WHERE parent_id = ? ORDER BY branch').all(parentId) as any[]).map(toLink);
  }

  /** Previews last pushed before `before` (ms since the epoch). */
  pushedBefore(before: number): PreviewLink[] {
    return (this.db.prepare('SELECT * FROM previews WHERE pushed_at < ?').all(before) as any[]).map(toLink);
  }
}
