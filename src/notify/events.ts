import type { Job, JobKind, Stage } from '../store/index.js';

/**
 * What the pipeline tells the outside world when a deploy ends. The pipeline
 * knows only `DeployNotifier`; the daemon injects an implementation (webhooks
 * today), so a stage never waits on, or fails because of, a receiver.
 */

export const DEPLOY_EVENTS = ['deploy.succeeded', 'deploy.failed'] as const;
export type DeployEventName = (typeof DEPLOY_EVENTS)[number];
/** Every event a webhook may subscribe to: the deploy events and an ACME certificate attempt that failed. */
export const WEBHOOK_EVENTS = [...DEPLOY_EVENTS, 'cert.failed'] as const;
export type WebhookEventName = (typeof WEBHOOK_EVENTS)[number];

/** `cert.failed`: obtaining or renewing an app's ACME certificate failed; the old certificate (if any) is still served. */
export interface CertFailedEvent {
  event: 'cert.failed';
  app: string;
  /** The names asked for. */
  domains: string[];
  error: string;
  /** ISO 8601: when the served certificate expires, or null when there is none yet. */
  expires_at: string | null;
  /** ISO 8601: when Slipway tries again. */
  next_attempt_at: string | null;
  /** Failed attempts in a row. */
  failures: number;
  job_id: number;
  log_url: string;
  created_at: string;
}

export interface CertNotifier {
  /** Must return at once and never throw into the renewal. */
  certFailed(event: CertFailedEvent): void;
}

/** The JSON body every webhook receives, in this key order. */
export interface DeployEvent {
  event: DeployEventName;
  app: string;
  release: number | null;
  status: 'succeeded' | 'failed';
  commit: string | null;
  /** What started the job: push, rollback, config, promote, upload, deploy … */
  kind: JobKind;
  mode: Job['mode'];
  /** The stage that failed, or null. */
  stage: Stage | null;
  error: string | null;
  duration_ms: number;
  job_id: number;
  log_url: string;
  /** ISO 8601, when the deploy ended. */
  created_at: string;
}

export interface DeployNotifier {
  /** Called once per deploy, at its end. Must return at once and never throw into the deploy. */
  deployEnded(event: DeployEvent): void;
}

export interface DeployEnd {
  app: string;
  jobId: number;
  kind: JobKind;
  mode: Job['mode'];
  release?: number | null;
  commit?: string | null;
  /** Absent when the deploy succeeded. */
  failure?: { stage?: Stage | null; error: string };
  startedAt: number;
  endedAt?: number;
}

/** The one place the payload is shaped, so tests and receivers see the same fields. */
export function deployEvent(end: DeployEnd): DeployEvent {
  const endedAt = end.endedAt ?? Date.now();
  const failed = end.failure !== undefined;
  return {
    event: failed ? 'deploy.failed' : 'deploy.succeeded',
    app: end.app,
    release: end.release ?? null,
    status: failed ? 'failed' : 'succeeded',
    commit: end.commit ?? null,
    kind: end.kind,
    mode: end.mode,
    stage: end.failure?.stage ?? null,
    error: end.failure?.error ?? null,
    duration_ms: Math.max(0, Math.round(endedAt - end.startedAt)),
    job_id: end.jobId,
    log_url: `/api/v1/jobs/${end.jobId}/log`,
    created_at: new Date(endedAt).toISOString(),
  };
}
