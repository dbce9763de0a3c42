import { crashPoint } from '../crash-point.js';
import { DeployError, describe } from '../errors.js';
import type { DeployContext, StageFn } from './context.js';
import { MODES, STAGE_TITLES, STAGES, type Stage } from './modes.js';
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

export interface DeployOutcome {
  ok: boolean;
  error?: DeployError;
}

/**
 * The whole deploy, as the corpus RFC's "Full procedure": the forward stages in
 * order until one fails; then rollback (when the mode has it); notify always.
 */
export async function runDeploy(ctx: DeployContext): Promise<DeployOutcome> {
  let seq = 0;
  let failure: DeployError | undefined;
  for (const stage of STAGES) {
    const wanted = MODES[ctx.mode][stage] === 'run';
    const due = stage === 'rollback' ? failure !== undefined : stage === 'notify' || failure === undefined;
    if (!due) continue;
    seq += 1;
    if (!wanted) {
      ctx.services.store.jobs.stageSkipped(ctx.job.id, seq, stage);
      continue;
    }
    crashPoint(`${stage}:before`);
    const error = await runStage(ctx, seq, stage, failure);
    crashPoint(`${stage}:after`);
    if (error && !failure) failure = ctx.failure = error;
  }
  return failure ? { ok: false, error: failure } : { ok: true };
}

/** Runs one stage and its `.slipway/<stage>` hook, recording start, end and outcome on the job. */
async function runStage(ctx: DeployContext, seq: number, stage: Stage, failure?: DeployError): Promise<DeployError | undefined> {
  const jobs = ctx.services.store.jobs;
  jobs.stageStarted(ctx.job.id, seq, stage);
  if (stage !== 'notify') ctx.log.stage(STAGE_TITLES[stage]);
  try {
    if (ctx.signal.aborted && stage !== 'rollback' && stage !== 'notify') throw ctx.signal.reason ?? new Error('the deploy was cancelled');
    await STAGE_FNS[stage](ctx);
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
