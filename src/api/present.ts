import type { App, Job, Release, StageRecord } from '../store/index.js';

/**
 * The JSON shapes the API answers with, in one place: snake_case fields, ISO
 * times, versions as `vN`, links as paths under /api/v1. Config values never
 * leave the server here; only their names do.
 */
const iso = (ms: number | null) => (ms == null ? null : new Date(ms).toISOString());

export const jobUrl = (id: number) => `/api/v1/jobs/${id}`;
/** The jobs resource under the 001 seed's name: the same jobs, the same answers. */
export const queueUrl = (id: number) => `/api/v1/queue/${id}`;
export const releaseUrl = (app: string, version: number) => `/api/v1/apps/${app}/releases/v${version}`;

export function appView(a: App) {
  return {
    name: a.name,
    owner: a.ownerName,
    env: a.env,
    mode: a.mode,
    deploy_branch: a.deployBranch,
    current_release: a.currentRelease == null ? null : `v${a.currentRelease}`,
    created_at: iso(a.createdAt),
    url: `/api/v1/apps/${a.name}`,
    releases_url: `/api/v1/apps/${a.name}/releases`,
  };
}

export function releaseView(app: App, r: Release) {
  const downloadable = r.status === 'succeeded' && r.archivePath != null && r.sha256 != null;
  return {
    version: `v${r.version}`,
    live: app.currentRelease === r.version,
    kind: r.kind,
    status: r.status,
    description: r.description,
    commit: r.commit,
    author: r.author,
    buildpacks: r.buildpacks,
    process_types: r.processTypes,
    config_vars: Object.keys(r.config).sort(),
    source_version: r.sourceVersion == null ? null : `v${r.sourceVersion}`,
    sha256: r.sha256,
    size: r.size,
    image: r.image,
    error: r.error,
    job: r.jobId,
    created_at: iso(r.createdAt),
    finished_at: iso(r.finishedAt),
    url: releaseUrl(app.name, r.version),
    archive_url: downloadable ? `${releaseUrl(app.name, r.version)}/archive` : null,
  };
}

export function jobView(job: Job, stages: StageRecord[]) {
  return {
    id: job.id,
    app: job.appName,
    kind: job.kind,
    mode: job.mode,
    status: job.status,
    current_stage: job.currentStage,
    error: job.error,
    commit: job.commit,
    user: job.userName,
    release: job.releaseVersion == null ? null : `v${job.releaseVersion}`,
    release_url: job.releaseVersion == null ? null : releaseUrl(job.appName, job.releaseVersion),
    result_url: job.resultUrl,
    created_at: iso(job.createdAt),
    started_at: iso(job.startedAt),
    finished_at: iso(job.finishedAt),
    stages: stages.map((s) => ({
      stage: s.stage,
      status: s.status,
      started_at: iso(s.startedAt),
      finished_at: iso(s.finishedAt),
      error: s.error,
    })),
    url: jobUrl(job.id),
    log_url: `${jobUrl(job.id)}/log`,
  };
}

/** The answer to every call that starts work: where to watch it. */
export function acceptedView(job: Job) {
  return { id: job.id, app: job.appName, kind: job.kind, status: job.status, url: jobUrl(job.id), log_url: `${jobUrl(job.id)}/log` };
}
