import type { Db } from './db.js';
import { now } from './db.js';

export interface Drain {
  id: number;
  appId: number;
  appName: string;
  /** Public name of the drain: receivers see `Logplex-Drain-Token: d.<token>`. */
  token: string;
  /** The URL as listings show it: a token in its userinfo or query masked. */
  url: string;
  /** The whole URL sealed by the secrets box (without the sealed prefix); null when `url` holds no secret. */
  sealedUrl: string | null;
  createdAt: number;
}

const toDrain = (r: any): Drain => ({
  id: r.id,
  appId: r.app_id,
  appName: r.app_name,
  token: r.token,
  url: r.url,
  sealedUrl: r.sealed_url,
  createdAt: r.created_at,
});

const SELECT = 'SELECT d.*, a.name AS app_name FROM drains d JOIN apps a ON a.id = d.app_id';

/** Log drains: each app's receivers of its log lines. An app's drains go with it (ON DELETE CASCADE). */
export class DrainStore {
  constructor(private readonly db: Db) {}

  add(d: { appId: number; token: string; url: string; sealedUrl: string | null }): Drain {
    const info = this.db
      .prepare('INSERT INTO drains (app_id, token, url, sealed_url, created_at) VALUES (?, ?, ?, ?, ?)')
      .run(d.appId, d.token, d.url, d.sealedUrl, now());
    return this.get(Number(info.lastInsertRowid))!;
  }

  get(id: number): Drain | undefined {
    const r = this.db.prepare(`${SELECT} WHERE d.id = ?`).get(id);
    return r ? toDrain(r) : undefined;
  }

  forApp(appId: number): Drain[] {
    return this.db.prepare(`${SELECT} WHERE d.app_id = ? ORDER BY d.id`).all(appId).map(toDrain);
  }

  /** Every drain of every app: what the daemon ships to. */
  all(): Drain[] {
    return this.db.prepare(`${SELECT} ORDER BY d.id`).all().map(toDrain);
  }

  /** False when the app has no drain with that id. */
  remove(appId: number, id: number): boolean {
    return this.db.prepare('DELETE FROM drains WHERE id = ? AND app_id = ?').run(id, appId).changes === 1;
  }
}
