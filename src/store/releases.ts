import type { Db } from './db.js';
import { now } from './db.js';
import { SEALED_PREFIX, isSealed } from './sealed.js';

export type ReleaseKind = 'build' | 'config' | 'rollback' | 'promote' | 'artifact';
export type ReleaseStatus = 'pending' | 'succeeded' | 'failed' | 'pruned';

export interface Release {
  id: number;
  appId: number;
  version: number;
  kind: ReleaseKind;
  status: ReleaseStatus;
  commit: string | null;
  author: string;
  description: string;
  buildpacks: string[];
  processTypes: Record<string, string>;
  config: Record<string, string>;
  archivePath: string | null;
  sha256: string | null;
  size: number | null;
  /** For rollbacks and promotions: the version whose archive this release reuses. */
  sourceVersion: number | null;
  /** The Docker image id a Dockerfile app's release runs from; null for buildpack releases. */
  image: string | null;
  jobId: number | null;
  error: string | null;
  /** The runtime driver (`process`, `docker`) the release runs on; set when it first starts. */
  driver: string | null;
  createdAt: number;
  finishedAt: number | null;
}

const toRelease = (r: any): Release => ({
  id: r.id,
  appId: r.app_id,
  version: r.version,
  kind: r.kind,
  status: r.status,
  commit: r.commit_sha,
  author: r.author,
  description: r.description,
  buildpacks: JSON.parse(r.buildpacks),
  processTypes: JSON.parse(r.process_types),
  config: configFromJson(r.config),
  archivePath: r.archive_path,
  sha256: r.sha256,
  size: r.size,
  sourceVersion: r.source_version,
  image: r.image ?? null,
  jobId: r.job_id,
  error: r.error,
  driver: r.driver ?? null,
  createdAt: r.created_at,
  finishedAt: r.finished_at,
});

export interface NewRelease {
  appId: number;
  kind: ReleaseKind;
  commit: string | null;
  author: string;
  description: string;
  config: Record<string, string>;
  sourceVersion?: number | null;
  jobId: number;
}

/** The release ledger: every release an app ever had, including failed ones. */
export class ReleaseStore {
  constructor(private readonly db: Db) {}

  /** Allocates the next version number and records the release as pending. */
  create(r: NewRelease): Release {
    return this.db.transaction(() => {
      const { v } = this.db.prepare('SELECT coalesce(max(version), 0) + 1 AS v FROM releases WHERE app_id = ?').get(r.appId) as {
        v: number;
      };
      this.db
        .prepare(
          `INSERT INTO releases (app_id, version, kind, status, commit_sha, author, description, config, source_version, job_id, created_at)
           VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(r.appId, v, r.kind, r.commit, r.author, r.description, configToJson(r.config), r.sourceVersion ?? null, r.jobId, now());
      return this.get(r.appId, v)!;
    })();
  }

  get(appId: number, version: number): Release | undefined {
    const r = this.db.prepare('SELECT * FROM releases WHERE app_id = ? AND version = ?').get(appId, version);
    return r ? toRelease(r) : undefined;
  }

  list(appId: number): Release[] {
    return this.db.prepare('SELECT * FROM releases WHERE app_id = ? ORDER BY version DESC').all(appId).map(toRelease);
  }

  /** Most recent successful build of this commit, used by final-mode pushes and promotion. */
  latestSucceededForCommit(appId: number, commit: string): Release | undefined {
    const r = this.db
      .prepare(
        `SELECT * FROM releases WHERE app_id = ? AND commit_sha = ? AND status = 'succeeded' AND archive_path IS NOT NULL
         ORDER BY version DESC LIMIT 1`,
      )
      .get(appId, commit);
    return r ? toRelease(r) : undefined;
  }

  update(
    id: number,
    fields: Partial<Pick<Release, 'buildpacks' | 'processTypes' | 'archivePath' | 'sha256' | 'size' | 'error' | 'description' | 'image'>>,
  ): void {
    const cols: Record<string, unknown> = {};
    if (fields.buildpacks) cols.buildpacks = JSON.stringify(fields.buildpacks);
    if (fields.processTypes) cols.process_types = JSON.stringify(fields.processTypes);
    if (fields.archivePath !== undefined) cols.archive_path = fields.archivePath;
    if (fields.sha256 !== undefined) cols.sha256 = fields.sha256;
    if (fields.size !== undefined) cols.size = fields.size;
    if (fields.error !== undefined) cols.error = fields.error;
    if (fields.description !== undefined) cols.description = fields.description;
    if (fields.image !== undefined) cols.image = fields.image;
    const keys = Object.keys(cols);
    if (!keys.length) return;
    this.db.prepare(`UPDATE releases SET ${keys.map((k) => `${k} = @${k}`).join(', ')} WHERE id = @id`).run({ ...cols, id });
  }

  finish(id: number, status: 'succeeded' | 'failed', error?: string): void {
    this.db
      .prepare('UPDATE releases SET status = ?, error = coalesce(?, error), finished_at = ? WHERE id = ?')
      .run(status, error ?? null, now(), id);
  }

  setDriver(id: number, driver: string): void {
    this.db.prepare('UPDATE releases SET driver = ? WHERE id = ?').run(driver, id);
  }

  markPruned(id: number): void {
    this.db.prepare("UPDATE releases SET status = 'pruned', archive_path = NULL WHERE id = ?").run(id);
  }

  /**
   * Whether a run-once step (release phase, `.slipway/upgrade`) already ran.
   * `key` names the step and what it ran for (`upgrade@sha256:…`, `upgrade@v3`);
   * the table's `release` column is unused (0).
   */
  stepDone(appId: number, key: string): boolean {
    return !!this.db.prepare('SELECT 1 FROM run_markers WHERE app_id = ? AND release = 0 AND step = ?').get(appId, key);
  }

  markStep(appId: number, key: string): void {
    this.db.prepare('INSERT OR IGNORE INTO run_markers (app_id, release, step, done_at) VALUES (?, 0, ?, ?)').run(appId, key, now());
  }
}

/**
 * A release's config snapshot as stored: plain values as strings, sealed ones
 * as `{"secret": "v1:…"}`, so a rollback restores secrets still sealed.
 */
function configToJson(config: Record<string, string>): string {
  const out: Record<string, string | { secret: string }> = {};
  for (const [k, v] of Object.entries(config)) out[k] = isSealed(v) ? { secret: v.slice(SEALED_PREFIX.length) } : v;
  return JSON.stringify(out);
}

function configFromJson(json: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(JSON.parse(json) as Record<string, string | { secret: string }>))
    out[k] = typeof v === 'string' ? v : SEALED_PREFIX + v.secret;
  return out;
}
