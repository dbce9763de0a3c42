import type { Db } from './db.js';
import { now } from './db.js';

export type Role = 'admin' | 'member';

export interface User {
  id: number;
  name: string;
  role: Role;
  createdAt: number;
}

export interface SshKey {
  id: number;
  userId: number;
  userName: string;
  fingerprint: string;
  publicKey: string;
  comment: string;
  createdAt: number;
}

export interface TokenRow {
  id: number;
  userId: number;
  name: string;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

const toUser = (r: any): User => ({ id: r.id, name: r.name, role: r.role, createdAt: r.created_at });

/** Users, their SSH keys and their API tokens (stored as hashes only). */
export class UserStore {
  constructor(
    private readonly db: Db,
    /** Told after a change that can take access away (see Store.onAccessChange). */
    private readonly accessChanged: () => void = () => undefined,
  ) {}

  add(name: string, role: Role): User {
    const info = this.db.prepare('INSERT INTO users (name, role, created_at) VALUES (?, ?, ?)').run(name, role, now());
    return this.byId(Number(info.lastInsertRowid))!;
  }

  byId(id: number): User | undefined {
    const r = this.db.prepare('SELECT * FROM users WHERE id = ?').get(id);
    return r ? toUser(r) : undefined;
  }

  byName(name: string): User | undefined {
    const r = this.db.prepare('SELECT * FROM users WHERE name = ?').get(name);
    return r ? toUser(r) : undefined;
  }

  /** Deletes the user with their keys, tokens and collaborations (the caller checks they own no apps). */
  remove(id: number): void {
    this.db.prepare('DELETE FROM users WHERE id = ?').run(id);
    this.accessChanged();
  }

  /** The stored scrypt hash, or null when the user has no password (tokens and keys only). */
  passwordHash(id: number): string | null {
    return (
      (this.db.prepare('SELECT password_hash FROM users WHERE id = ?').get(id) as { password_hash: string | null } | undefined)
        ?.password_hash ?? null
    );
  }

  setPasswordHash(id: number, hash: string | null): void {
    this.db.prepare('UPDATE users SET password_hash = ? WHERE id = ?').run(hash, id);
  }

  list(): User[] {
    return this.db.prepare('SELECT * FROM users ORDER BY id').all().map(toUser);
  }

  count(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM users').get() as { n: number }).n;
  }

  addKey(userId: number, fingerprint: string, publicKey: string, comment: string): SshKey {
    const info = this.db
      .prepare('INSERT INTO ssh_keys (user_id, fingerprint, public_key, comment, created_at) VALUES (?, ?, ?, ?, ?)')
      .run(userId, fingerprint, publicKey, comment, now());
    return this.keyRows('k.id = ?', Number(info.lastInsertRowid))[0]!;
  }

  keys(userId?: number): SshKey[] {
    return this.keyRows('(? IS NULL OR k.user_id = ?)', userId ?? null, userId ?? null);
  }

  keyByFingerprint(fingerprint: string): SshKey | undefined {
    return this.keyRows('k.fingerprint = ?', fingerprint)[0];
  }

  private keyRows(where: string, ...params: unknown[]): SshKey[] {
    const rows = this.db
      .prepare(`SELECT k.*, u.name AS user_name FROM ssh_keys k JOIN users u ON u.id = k.user_id WHERE ${where} ORDER BY k.id`)
      .all(...params) as any[];
    return rows.map((r) => ({
      id: r.id,
      userId: r.user_id,
      userName: r.user_name,
      fingerprint: r.fingerprint,
      publicKey: r.public_key,
      comment: r.comment,
      createdAt: r.created_at,
    }));
  }

  removeKey(id: number): boolean {
    const removed = this.db.prepare('DELETE FROM ssh_keys WHERE id = ?').run(id).changes > 0;
    if (removed) this.accessChanged();
    return removed;
  }

  addToken(userId: number, name: string, hash: string): TokenRow {
    const info = this.db.prepare('INSERT INTO tokens (user_id, name, hash, created_at) VALUES (?, ?, ?, ?)').run(userId, name, hash, now());
    return this.tokens(userId).find((t) => t.id === Number(info.lastInsertRowid))!;
  }

  tokens(userId: number): TokenRow[] {
    return (this.db.prepare('SELECT * FROM tokens WHERE user_id = ? ORDER BY id').all(userId) as any[]).map((r) => ({
      id: r.id,
      userId: r.user_id,
      name: r.name,
      createdAt: r.created_at,
      lastUsedAt: r.last_used_at,
      revokedAt: r.revoked_at,
    }));
  }

  /** The user owning a live (not revoked) token with this hash; records its use. */
  userByTokenHash(hash: string): User | undefined {
    const r = this.db.prepare('SELECT id, user_id FROM tokens WHERE hash = ? AND revoked_at IS NULL').get(hash) as
      { id: number; user_id: number } | undefined;
    if (!r) return undefined;
    this.db.prepare('UPDATE tokens SET last_used_at = ? WHERE id = ?').run(now(), r.id);
    return this.byId(r.user_id);
  }

  /** A name no live token of this user has: `base`, else `base-2`, `base-3` … */
  freeTokenName(userId: number, base: string): string {
    const taken = new Set(
      this.tokens(userId)
        .filter((t) => t.revokedAt == null)
        .map((t) => t.name),
    );
    if (!taken.has(base)) return base;
    let n = 2;
    while (taken.has(`${base}-${n}`)) n++;
    return `${base}-${n}`;
  }

  revokeToken(id: number): boolean {
    const revoked = this.db.prepare('UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(now(), id).changes > 0;
    if (revoked) this.accessChanged();
    return revoked;
  }

  /** Whether a live (not revoked) token has this hash; unlike userByTokenHash, not a use of it. */
  tokenIsLive(hash: string): boolean {
    return this.db.prepare('SELECT 1 FROM tokens WHERE hash = ? AND revoked_at IS NULL').get(hash) !== undefined;
  }
}
