import fs from 'node:fs';
import path from 'node:path';
import { DeployError } from '../errors.js';
import type { DeployContext } from './context.js';
import type { Stage } from './modes.js';
import { runLogged } from './spawn-logged.js';
import { processEnv } from './formation.js';

/**
 * The RFC's per-project stage files (`.salt/<stage>.sls`) as executables:
 * `.slipway/<stage>` in the app's code runs after the built-in stage, with the
 * app's env, in the directory holding the new release. A non-zero exit fails
 * the stage, and so the deploy.
 */
export async function runRepoHook(ctx: DeployContext, stage: Stage): Promise<void> {
  const dir = ctx.releaseDir ?? ctx.workDir;
  const file = path.join(dir, '.slipway', stage);
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    return;
  }
  if (!st.isFile()) return;
  if (!(st.mode & 0o111)) {
    ctx.log.info(`.slipway/${stage} is not executable; skipped (chmod +x it to run it)`);
    return;
  }
  ctx.log.info(`Running .slipway/${stage}`);
  const code = await runLogged({
    command: file,
    args: [],
    cwd: dir,
    env: processEnv(ctx.services, ctx.app.name, ctx.release?.version ?? 0, { ...ctx.configVars, ...ctx.config }, dir),
    log: ctx.log,
    signal: ctx.signal,
  });
  if (code !== 0) {
    throw new DeployError(`.slipway/${stage} exited with status ${code}`, {
      app: ctx.app.name,
      release: ctx.release?.version,
      stage,
      command: `.slipway/${stage}`,
      exitCode: code,
      hint: 'fix the script in your repository and push again',
    });
  }
}
