import fsp from 'node:fs/promises';
import { crashPoint } from '../crash-point.js';
import { DeployError, SlipwayError, describe } from '../errors.js';
import type { App, Job } from '../store/index.js';
import type { DeployContext, DeployPlan, DeploySource, ResolvedSource, Services, StageFn } from './context.js';
import type { JobLog } from './job-log.js';
import { STAGE_TITLES, STAGES, WORKSPACES, type Stage } from './modes.js';
import { runRepoHook } from './repo-hooks.js';
import { trigger } from './stages/trigger.js';
import { archive } from './stages/archive.js';
import { initSync } from './stages/init-sync.js';
import { releaseSync } from './stages/release-sync.js';
import { configure } from './stages/configure.js';
import { build } from './stages/build.js';
import { reconfigure } from './stages/reconfigure.js';
import { activate } from './stages/activate.js';
import { upgrade } from './stages/upgrade.js';
import { bundle } from './stages/bundle.js';
import { postInstall } from './stages/post-install.js';
import { rollback } from './stages/rollback.js';
import { notify } from './stages/notify.js';
import { endWarmBuild, prepareNextBuild, warmBuild } from './builders.js';

const STAGE_FNS: Record<Stage, StageFn> = {
  trigger,
  archive,
  'init-sync': initSync,
  'release-sync': releaseSync,
  configure,
  build,
  reconfigure,
  activate,
  upgrade,
  bundle,
  'post-install': postInstall,
  rollback,
  notify,
};

export interface DeployJob {
  jobId: number;
  plan: DeployPlan;
  log: JobLog;
  signal: AbortSignal;
  /** Stage functions to use instead of the real ones (unit tests). */
  stageFns?: Partial<Record<Stage, StageFn>>;
}

/**
 * One deploy job from start to end: set-up (the app still exists, its source
 * resolved, its config and secrets masked, the context made), the stages, and
 * in a `finally` the clean-up — what its builds left running, its scratch,
 * its secrets on disk, its uploads — after which the release and the job are
 * marked finished, each exactly once. Resolves with the finished job.
 */
export async function runDeployJob(services: Services, job: DeployJob): Promise<Job> {
  const { store } = services;
  const { jobId, plan, log } = job;
  const app = store.apps.byId(plan.app.id);
  if (!app) {
    store.jobs.finish(jobId, 'failed', 'the app was destroyed before this deploy started');
    log.close();
    return store.jobs.get(jobId)!;
  }
  store.jobs.start(jobId);
  let ctx: DeployContext | undefined;
  let warming: Promise<void> | undefined;
  let error: string | undefined;
  try {
    ctx = setUp(services, app, job);
    // Starting the build's guest is synchronous work (its cgroups, the fork of its launcher):
    // once the first stage waits on its I/O, so that the two overlap instead of the job waiting.
    const started = ctx;
    warming = new Promise((resolve) =>
      setImmediate(() => {
        try {
          warmBuild(started);
        } catch {
          // Only a head start: the build meets whatever stopped it, and reports it.
        } finally {
          resolve();
        }
      }),
    );
    const outcome = await runDeploy(ctx, job.stageFns);
    if (outcome.error) error = describe(outcome.error);
  } catch (err) {
    error = describe(err);
    // A set-up failure (no live archive to resolve) is the user's to fix; anything later is ours.
    log.error(ctx ? `internal error: ${error}` : error);
  } finally {
    // Its clean-up ends the warm build: it must have been started by then.
    await warming;
    if (ctx) await cleanUp(services, ctx, plan.source);
    if (ctx?.release) store.releases.finish(ctx.release.id, error ? 'failed' : 'succeeded', error);
    store.jobs.finish(jobId, error ? 'failed' : 'succeeded', error);
    log.close();
  }
  // After the job's end, which it must never hold up or fail.
  if (ctx) prepareNextBuild(ctx);
  // An aborted job's server may be stopping, after it ended every standby.
  if (ctx && !ctx.signal.aborted) services.driver.prepareNext?.(ctx.app.name);
  return store.jobs.get(jobId)!;
}

function setUp(services: Services, app: App, job: DeployJob): DeployContext {
  const { store, layout } = services;
  const { plan, log } = job;
  const source = resolveSource(services, app, plan.source);
  const config = { ...(plan.config ?? store.apps.config(app.id)) };
  for (const [k, v] of Object.entries(plan.configChanges ?? {})) v === undefined ? delete config[k] : (config[k] = v);
  // Build output often echoes the environment: from here on the job log and
  // everyone following it see `********` for every secret of the app.
  if (services.secrets) {
    services.secrets.reveal(app.name, { ...store.apps.config(app.id), ...config });
    log.mask(services.secrets.masker(app.name));
  }
  const workspace = WORKSPACES[plan.mode];
  return {
    services,
    app,
    job: store.jobs.get(job.jobId)!,
    mode: plan.mode,
    stages: plan.stages,
    workspace,
    source,
    releaseKind: plan.releaseKind,
    log,
    signal: job.signal,
    config,
    workDir: workspace.workDir(layout, app.name),
    buildpacks: [],
    processTypes: {},
    configVars: {},
    previous: { version: app.currentRelease, instances: [] },
    started: [],
    switched: false,
    startedAt: Date.now(),
  };
}

/** Everything a job leaves behind but its release, removed before the job counts as finished: whoever polls it then finds no scratch left. */
async function cleanUp(services: Services, ctx: DeployContext, requested: DeploySource): Promise<void> {
  const { layout } = services;
  const app = ctx.app.name;
  // What its builds and hooks left running (`setsid` or not) ends with the job, as a build dyno does.
  services.orphans?.reapOwner('deploy', ctx.job.id);
  await endWarmBuild(ctx);
  await ctx.workspace.cleanUp(ctx);
  await fsp.rm(layout.scratch(app), { recursive: true, force: true }).catch(() => undefined);
  // ENV_DIR holds secrets in plain text for the buildpacks; it is not needed once the build is over.
  await fsp.rm(layout.env(app), { recursive: true, force: true }).catch(() => undefined);
  // Uploaded or fetched files were linked into archives/ by bundle if the deploy got that far.
  const uploads = `${layout.app(app)}/uploads/`;
  for (const f of [ctx.source.kind === 'archive' ? ctx.source.archive : '', requested.kind === 'tarball' ? requested.file : '']) {
    if (f.startsWith(uploads)) await fsp.rm(f, { force: true }).catch(() => undefined);
  }
}

/** Turns `live` into the archive of the release that is live when the job starts. */
function resolveSource(services: Services, app: App, source: DeploySource): ResolvedSource {
  if (source.kind !== 'live') return source;
  const live = app.currentRelease == null ? undefined : services.store.releases.get(app.id, app.currentRelease);
  if (!live?.archivePath) {
    throw new SlipwayError('no_archive', `${app.name} has no live release archive to make a new release from`, {
      hint: 'push to deploy it first',
    });
  }
  return { kind: 'archive', archive: live.archivePath, sha256: live.sha256 ?? undefined, fromVersion: live.version, commit: live.commit };
}

export interface DeployOutcome {
  ok: boolean;
  error?: DeployError;
}

/**
 * The stages, as the corpus RFC's "Full procedure": the forward stages the
 * deploy's mode runs, in order, until one fails; then rollback (when the mode
 * has it); notify always.
 */
export async function runDeploy(ctx: DeployContext, stageFns: Partial<Record<Stage, StageFn>> = {}): Promise<DeployOutcome> {
  let seq = 0;
  let failure: DeployError | undefined;
  for (const stage of STAGES) {
    const wanted = ctx.stages[stage] === 'run';
    const due = stage === 'rollback' ? failure !== undefined : stage === 'notify' || failure === undefined;
    if (!due) continue;
    seq += 1;
    if (!wanted) {
      ctx.services.store.jobs.stageSkipped(ctx.job.id, seq, stage);
      continue;
    }
    crashPoint(`${stage}:before`);
    const error = await runStage(ctx, seq, stage, stageFns[stage] ?? STAGE_FNS[stage], failure);
    crashPoint(`${stage}:after`);
    if (error && !failure) failure = ctx.failure = error;
  }
  return failure ? { ok: false, error: failure } : { ok: true };
}

/** Runs one stage and its `.slipway/<stage>` hook, recording start, end and outcome on the job. */
async function runStage(
  ctx: DeployContext,
  seq: number,
  stage: Stage,
  fn: StageFn,
  failure?: DeployError,
): Promise<DeployError | undefined> {
  const jobs = ctx.services.store.jobs;
  jobs.stageStarted(ctx.job.id, seq, stage);
  if (stage !== 'notify') ctx.log.stage(STAGE_TITLES[stage]);
  try {
    if (ctx.signal.aborted && stage !== 'rollback' && stage !== 'notify') throw ctx.signal.reason ?? new Error('the deploy was cancelled');
    await fn(ctx);
    if (stage !== 'notify') await runRepoHook(ctx, stage);
    jobs.stageFinished(ctx.job.id, seq, 'ok');
    return undefined;
  } catch (err) {
    const error = asDeployError(ctx, stage, err);
    jobs.stageFinished(ctx.job.id, seq, 'failed', describe(error));
    if (stage === 'rollback' || stage === 'notify' || failure) ctx.log.error(`${STAGE_TITLES[stage]} failed too: ${describe(error)}`);
    return error;
  }
}

function asDeployError(ctx: DeployContext, stage: Stage, err: unknown): DeployError {
  if (err instanceof DeployError)
    return err.stage
      ? err
      : new DeployError(err.message, {
          app: err.app,
          release: err.release,
          stage,
          command: err.command,
          exitCode: err.exitCode,
          hint: err.hint,
          cause: err.cause,
        });
  const e = err as Error & { hint?: string; command?: string; exitCode?: number };
  return new DeployError(e?.message ?? String(err), {
    app: ctx.app.name,
    release: ctx.release?.version,
    stage,
    command: e?.command,
    exitCode: e?.exitCode,
    hint: e?.hint,
    cause: err,
  });
}
