import { STAGES, type Stage } from '../stages.js';
import type { Db } from './db.js';
import { now } from './db.js';
import type { Mode } from './apps.js';

export { STAGES, type Stage };

/** What started a deploy job, as `jobs` lists it (stored; API clients read it). */
export type DeployJobKind = 'push' | 'deploy' | 'upload' | 'build' | 'promote' | 'rollback' | 'config';
/** Work that is a job but not a deploy: a one-off container, an image build, an ACME certificate attempt. */
export type TaskJobKind = 'run' | 'image' | 'cert';
export type JobKind = DeployJobKind | TaskJobKind;

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed';
export type StageStatus = 'running' | 'ok' | 'skipped' | 'failed';

export interface Job {
  id: number;
  appId: number;
  appName: string;
  kind: JobKind;
  /** The deploy's mode, or `task` for a task job. */
  mode: Mode | 'task';
  status: JobStatus;
  commit: string | null;
  userName: string;
  params: Record<string, unknown>;
  releaseVersion: number | null;
  /** What a non-deploy job made (`/api/v1/containers/ID`, `/api/v1/images/ID`); the queue answers 303 to it. */
  resultUrl: string | null;
  currentStage: Stage | null;
  error: string | null;
  logPath: string;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

export interface StageRecord {
  seq: number;
  stage: Stage;
  status: StageStatus;
  startedAt: number | null;
  finishedAt: number | null;
  error: string | null;
}

const toJob = (r: any): Job => ({
  id: r.id,
  appId: r.app_id,
  appName: r.app_name,
  kind: r.kind,
  mode: r.mode,
  status: r.status,
  commit: r.commit_sha,
  userName: r.user_name,
  params: JSON.parse(r.params),
  releaseVersion: r.release_version,
  resultUrl: r.result_url ?? null,
  currentStage: r.current_stage,
  error: r.error,
  logPath: r.log_path,
  createdAt: r.created_at,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
});

const SELECT = 'SELECT j.*, a.name AS app_name FROM jobs j JOIN apps a ON a.id = j.app_id';

/** Deploy jobs and the record of each stage they ran or skipped. */
export class JobStore {
  constructor(private readonly db: Db) {}

  create(j: {
    appId: number;
    kind: JobKind;
    mode: Mode | 'task';
    commit: string | null;
    userName: string;
    params: object;
    logPath: (id: number) => string;
  }): Job {
    return this.db.transaction(() => {
      const info = this.db
        .prepare(
          `INSERT INTO jobs (app_id, kind, mode, status, commit_sha, user_name, params, log_path, created_at)
           VALUES (?, ?, ?, 'queued', ?, ?, ?, '', ?)`,
        )
        .run(j.appId, j.kind, j.mode, j.commit, j.userName, JSON.stringify(j.params), now());
      const id = Number(info.lastInsertRowid);
      this.db.prepare('UPDATE jobs SET log_path = ? WHERE id = ?').run(j.logPath(id), id);
      return this.get(id)!;
    })();
  }

  get(id: number): Job | undefined {
    const r = this.db.prepare(`${SELECT} WHERE j.id = ?`).get(id);
    return r ? toJob(r) : undefined;
  }

  list(appId?: number, limit = 50): Job[] {
    return this.db
      .prepare(`${SELECT} WHERE (? IS NULL OR j.app_id = ?) ORDER BY j.id DESC LIMIT ?`)
      .all(appId ?? null, appId ?? null, limit)
      .map(toJob);
  }

  /** How many jobs of the app are queued or running ahead of job `id`: its place in line. */
  aheadOf(appId: number, id: number): number {
    return (
      this.db.prepare("SELECT count(*) AS n FROM jobs WHERE app_id = ? AND id < ? AND status IN ('queued', 'running')").get(appId, id) as {
        n: number;
      }
    ).n;
  }

  /** Jobs left queued or running by a daemon that stopped; used at start-up. */
  unfinished(): Job[] {
    return this.db.prepare(`${SELECT} WHERE j.status IN ('queued', 'running') ORDER BY j.id`).all().map(toJob);
  }

  start(id: number): void {
    this.db.prepare("UPDATE jobs SET status = 'running', started_at = ? WHERE id = ?").run(now(), id);
  }

  setRelease(id: number, version: number): void {
    this.db.prepare('UPDATE jobs SET release_version = ? WHERE id = ?').run(version, id);
  }

  setResult(id: number, url: string): void {
    this.db.prepare('UPDATE jobs SET result_url = ? WHERE id = ?').run(url, id);
  }

  finish(id: number, status: 'succeeded' | 'failed', error?: string): void {
    this.db
      .prepare('UPDATE jobs SET status = ?, error = ?, current_stage = NULL, finished_at = ? WHERE id = ?')
      .run(status, error ?? null, now(), id);
  }

  stageStarted(jobId: number, seq: number, stage: Stage): void {
    this.db.prepare('UPDATE jobs SET current_stage = ? WHERE id = ?').run(stage, jobId);
    this.db
      .prepare("INSERT OR REPLACE INTO job_stages (job_id, seq, stage, status, started_at) VALUES (?, ?, ?, 'running', ?)")
      .run(jobId, seq, stage, now());
  }

  stageSkipped(jobId: number, seq: number, stage: Stage): void {
    this.db.prepare("INSERT OR REPLACE INTO job_stages (job_id, seq, stage, status) VALUES (?, ?, ?, 'skipped')").run(jobId, seq, stage);
  }

  stageFinished(jobId: number, seq: number, status: 'ok' | 'failed', error?: string): void {
    this.db
      .prepare('UPDATE job_stages SET status = ?, finished_at = ?, error = ? WHERE job_id = ? AND seq = ?')
      .run(status, now(), error ?? null, jobId, seq);
  }

  stages(jobId: number): StageRecord[] {
    return (this.db.prepare('SELECT * FROM job_stages WHERE job_id = ? ORDER BY seq').all(jobId) as any[]).map((r) => ({
      seq: r.seq,
      stage: r.stage,
      status: r.status,
      startedAt: r.started_at,
      finishedAt: r.finished_at,
      error: r.error,
    }));
  }
}
