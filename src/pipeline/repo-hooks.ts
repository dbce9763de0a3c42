import fs from 'node:fs';
import path from 'node:path';
import { DeployError } from '../errors.js';
import type { DeployContext } from './context.js';
import type { Stage } from './modes.js';
import { Readable } from 'node:stream';
import { processEnv } from './formation.js';
import { guestOf } from './guests.js';
import { logStream } from './job-log.js';

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
 * app's env, in the directory holding the new release. A non-zero exit fails
 * the stage, and so the deploy.
 */
export async function runRepoHook(ctx: DeployContext, stage: Stage): Promise<void> {
  const dir = ctx.releaseDir ?? ctx.workDir;
  const store = ctx.services.store;
  if (RUN_ONCE.has(stage) && ctx.release && store.releases.stepDone(ctx.app.id, runOnceKey(ctx, stage))) {
    if (fs.existsSync(path.join(dir, '.slipway', stage))) ctx.log.info(`.slipway/${stage} already ran for this release; not running it again`);
    return;
  }
  const ran = await runScript(ctx, { script: `.slipway/${stage}`, cwd: dir, env: processEnv(ctx.services, ctx.app.name, ctx.release?.version ?? 0, { ...ctx.configVars, ...ctx.config }, dir), stage });
  if (ran && RUN_ONCE.has(stage) && ctx.release) store.releases.markStep(ctx.app.id, runOnceKey(ctx, stage));
}

export interface ScriptOptions {
  /** Path relative to `cwd`, e.g. `.slipway/configure`. */
  script: string;
  cwd: string;
  env: Record<string, string>;
  stage: string;
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
  // In the app's guest like any of its code: before activation its writes are
  // kept in the release (as a build's are), after it they are ephemeral.
  const out = logStream(ctx);
  const code = await ctx.services.driver.exec({
    app: ctx.app.name,
    release: ctx.release?.version ?? 0,
    releaseDir: opts.cwd,
    dataDir: ctx.services.layout.data(ctx.app.name),
    env: opts.env,
    argv: [`./${opts.script}`],
    image: ctx.image,
    persist: !ctx.switched,
    ...guestOf(ctx.services, ctx.app, 'release'),
    stdin: Readable.from([]),
    stdout: out,
    stderr: out,
    signal: ctx.signal,
    dyno: `hook.${opts.stage}`,
    owner: ctx.services.orphans?.owner('deploy', ctx.job.id),
  });
  out.end();
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
