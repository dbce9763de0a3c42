import type { Db } from './db.js';
import { now } from './db.js';
import { SEALED_PREFIX, isSealed } from './sealed.js';

export type Mode = 'editable' | 'cooking' | 'final';
export type Environment = 'dev' | 'staging' | 'prod';

export interface App {
  id: number;
  name: string;
  ownerId: number;
  ownerName: string;
  /** Users the owner shared the app with (`access:add`); they may use it like the owner. */
  collaboratorIds: number[];
  env: Environment;
  mode: Mode;
  deployBranch: string;
  settings: Record<string, string>;
  /** Version of the release that is live, or null before the first deploy. */
  currentRelease: number | null;
  createdAt: number;
}

const toApp = (r: any): App => ({
  id: r.id,
  name: r.name,
  ownerId: r.owner_id,
  ownerName: r.owner_name,
  collaboratorIds: r.collaborator_ids ? String(r.collaborator_ids).split(',').map(Number) : [],
  env: r.env,
  mode: r.mode,
  deployBranch: r.deploy_branch,
  settings: JSON.parse(r.settings),
  currentRelease: r.current_release,
  createdAt: r.created_at,
});

const SELECT =
  'SELECT a.*, u.name AS owner_name, (SELECT group_concat(c.user_id) FROM collaborators c WHERE c.app_id = a.id) AS collaborator_ids FROM apps a JOIN users u ON u.id = a.owner_id';

/** Apps, their config vars and their formation (process type → quantity). */
export class AppStore {
  constructor(
    private readonly db: Db,
    /** Told after a change that can take access away (see Store.onAccessChange). */
    private readonly accessChanged: () => void = () => undefined,
  ) {}

  create(opts: { name: string; ownerId: number; env: Environment; mode: Mode }): App {
    this.db
      .prepare('INSERT INTO apps (name, owner_id, env, mode, created_at) VALUES (?, ?, ?, ?, ?)')
      .run(opts.name, opts.ownerId, opts.env, opts.mode, now());
    return this.byName(opts.name)!;
  }

  byName(name: string): App | undefined {
    const r = this.db.prepare(`${SELECT} WHERE a.name = ?`).get(name);
    return r ? toApp(r) : undefined;
  }

  byId(id: number): App | undefined {
    const r = this.db.prepare(`${SELECT} WHERE a.id = ?`).get(id);
    return r ? toApp(r) : undefined;
  }

  list(): App[] {
    return this.db.prepare(`${SELECT} ORDER BY a.name`).all().map(toApp);
  }

  /** Hands the app to another user; the new owner stops being a collaborator (ownership says more). */
  transfer(id: number, ownerId: number): void {
    this.db.transaction(() => {
      this.db.prepare('UPDATE apps SET owner_id = ? WHERE id = ?').run(ownerId, id);
      this.db.prepare('DELETE FROM collaborators WHERE app_id = ? AND user_id = ?').run(id, ownerId);
    })();
    this.accessChanged();
  }

  destroy(id: number): void {
    this.db.prepare('DELETE FROM apps WHERE id = ?').run(id);
    this.accessChanged();
  }

  setCurrentRelease(id: number, version: number | null): void {
    this.db.prepare('UPDATE apps SET current_release = ? WHERE id = ?').run(version, id);
  }

  /** The branch whose pushes deploy (the `deploy_branch` setting, a column of its own). */
  setDeployBranch(id: number, branch: string): void {
    this.db.prepare('UPDATE apps SET deploy_branch = ? WHERE id = ?').run(branch, id);
  }

  /** Which stages the app's deploys run (the `mode` setting, a column of its own). */
  setMode(id: number, mode: Mode): void {
    this.db.prepare('UPDATE apps SET mode = ? WHERE id = ?').run(mode, id);
  }

  /** One key of the app's settings object; `undefined` removes it. The rules for each key are in apps/settings.ts. */
  setSetting(id: number, key: string, value: string | undefined): void {
    const app = this.byId(id)!;
    const settings = { ...app.settings };
    if (value === undefined) delete settings[key];
    else settings[key] = value;
    this.db.prepare('UPDATE apps SET settings = ? WHERE id = ?').run(JSON.stringify(settings), id);
  }

  /** The app's config vars; secret values stay sealed (see store/sealed.ts). */
  config(id: number): Record<string, string> {
    const rows = this.db.prepare('SELECT key, value, secret FROM config_vars WHERE app_id = ? ORDER BY key').all(id) as any[];
    return Object.fromEntries(rows.map((r) => [r.key, r.secret ? SEALED_PREFIX + r.value : r.value]));
  }

  /** Names of the app's secret config vars. */
  secretKeys(id: number): string[] {
    return (this.db.prepare('SELECT key FROM config_vars WHERE app_id = ? AND secret = 1 ORDER BY key').all(id) as any[]).map((r) => r.key);
  }

  /** Replaces config keys in one transaction; `undefined` values unset the key. */
  updateConfig(id: number, changes: Record<string, string | undefined>): void {
    const unset = this.db.prepare('DELETE FROM config_vars WHERE app_id = ? AND key = ?');
    this.db.transaction(() => {
      for (const [k, v] of Object.entries(changes)) v === undefined ? unset.run(id, k) : this.setVar(id, k, v);
    })();
  }

  /** Makes the stored config exactly `config` (after a config release or a rollback went live). */
  replaceConfig(id: number, config: Record<string, string>): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM config_vars WHERE app_id = ?').run(id);
      for (const [k, v] of Object.entries(config)) this.setVar(id, k, v);
    })();
  }

  private setVar(id: number, key: string, value: string): void {
    const secret = isSealed(value);
    this.db
      .prepare('INSERT OR REPLACE INTO config_vars (app_id, key, value, secret) VALUES (?, ?, ?, ?)')
      .run(id, key, secret ? value.slice(SEALED_PREFIX.length) : value, secret ? 1 : 0);
  }

  formation(id: number): Record<string, number> {
    const rows = this.db.prepare('SELECT type, quantity FROM formations WHERE app_id = ?').all(id) as any[];
    return Object.fromEntries(rows.map((r) => [r.type, r.quantity]));
  }

  setFormation(id: number, type: string, quantity: number): void {
    this.db.prepare('INSERT OR REPLACE INTO formations (app_id, type, quantity) VALUES (?, ?, ?)').run(id, type, quantity);
  }
}
