import fs from 'node:fs';
import path from 'node:path';
import { DeployError } from '../errors.js';
import type { DeployContext } from './context.js';
import type { Stage } from './modes.js';
import { processEnv } from './formation.js';
import { runInGuest, type GuestStep } from './guest-exec.js';

/** Steps that run once per release, however often that release is redeployed or restarted. */
const RUN_ONCE: ReadonlySet<string> = new Set(['upgrade']);

/**
 * The key a run-once step is remembered under: the release archive's content
 * when known (so a rollback or config release of the same archive does not
 * migrate again), else the release version.
 */
export function runOnceKey(ctx: DeployContext, step: string): string {
  const sha = ctx.source.kind === 'archive' ? ctx.source.sha256 : undefined;
  return sha ? `${step}@sha256:${sha}` : `${step}@v${ctx.release?.version ?? 0}`;
}

/**
 * The RFC's per-project stage files (`.salt/<stage>.sls`) as executables:
 * `.slipway/<stage>` in the app's code runs after the built-in stage, with the
 * app's env, in the app's guest over the directory holding the new release
 * (as its /app, writable but ephemeral). A non-zero exit fails the stage, and
 * so the deploy.
 */
export async function runRepoHook(ctx: DeployContext, stage: Stage): Promise<void> {
  const dir = ctx.releaseDir ?? ctx.workDir;
  const store = ctx.services.store;
  if (RUN_ONCE.has(stage) && ctx.release && store.releases.stepDone(ctx.app.id, runOnceKey(ctx, stage))) {
    if (fs.existsSync(path.join(dir, '.slipway', stage)))
      ctx.log.info(`.slipway/${stage} already ran for this release; not running it again`);
    return;
  }
  const ran = await runScript(ctx, {
    script: `.slipway/${stage}`,
    cwd: dir,
    env: processEnv(ctx.services, ctx.app.name, ctx.release?.version ?? 0, { ...ctx.configVars, ...ctx.config }, dir),
    stage,
  });
  if (ran && RUN_ONCE.has(stage) && ctx.release) store.releases.markStep(ctx.app.id, runOnceKey(ctx, stage));
}

export interface ScriptOptions {
  /** Path relative to `cwd`, e.g. `.slipway/configure`. */
  script: string;
  /** The release directory it runs in (its guest's /app). */
  cwd: string;
  env: Record<string, string>;
  stage: Stage;
  /** The release `cwd` belongs to; default the one being deployed. */
  release?: number;
  /** Host paths the script needs to see (the archive stage's snapshot). */
  mounts?: GuestStep['mounts'];
}

/** Runs a user script if it exists; resolves true when it ran (and succeeded), throws when it failed. */
export async function runScript(ctx: DeployContext, opts: ScriptOptions): Promise<boolean> {
  const file = path.join(opts.cwd, opts.script);
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    return false;
  }
  if (!st.isFile()) return false;
  if (!(st.mode & 0o111)) {
    ctx.log.info(`${opts.script} is not executable; skipped (chmod +x it to run it)`);
    return false;
  }
  ctx.log.info(`Running ${opts.script}`);
  const code = await runInGuest(ctx, {
    argv: [`./${opts.script}`],
    env: opts.env,
    release: opts.release ?? ctx.release?.version ?? 0,
    releaseDir: opts.cwd,
    mounts: opts.mounts,
  });
  if (code !== 0) {
    throw new DeployError(`${opts.script} exited with status ${code}`, {
      app: ctx.app.name,
      release: ctx.release?.version,
      stage: opts.stage,
      command: opts.script,
      exitCode: code,
      hint: 'fix the script in your repository and push again',
    });
  }
  return true;
}
