import { DeployError } from '../errors.js';
import type { AppJson } from './app-json.js';
import type { DeployContext } from './context.js';
import { runInGuest } from './guest-exec.js';
import { runOnceKey } from './repo-hooks.js';

type Phase = 'predeploy' | 'postdeploy';

/**
 * app.json's deployment tasks, as Dokku runs them, each in the app's guest:
 * `predeploy` after the build and before the release command and the new
 * processes, its writes to /app kept in the release (Dokku commits them to
 * the image) and so in its archive — hence once per archive, like the release
 * command; `postdeploy` once the new release serves, its writes ephemeral.
 * A non-zero exit fails the deploy.
 */
export async function runDeployScript(
  ctx: DeployContext,
  phase: Phase,
  scripts: AppJson['scripts'],
  env: Record<string, string>,
): Promise<void> {
  const command = scripts[phase];
  if (!command) return;
  const { store } = ctx.services;
  const version = ctx.release!.version;
  const key = runOnceKey(ctx, phase);
  if (phase === 'predeploy' && store.releases.stepDone(ctx.app.id, key)) {
    ctx.log.info('app.json predeploy already ran for this release archive; not running it again');
    return;
  }
  ctx.log.info(`Running app.json ${phase}: ${command}`);
  const code = await runInGuest(ctx, {
    argv: ['bash', '-c', command],
    env,
    release: version,
    releaseDir: ctx.releaseDir!,
    image: ctx.image,
    keepWrites: phase === 'predeploy',
  });
  if (code !== 0) {
    throw new DeployError(`app.json ${phase} exited with status ${code}`, {
      app: ctx.app.name,
      release: version,
      command,
      exitCode: code,
      hint: `fix scripts.${phase} in app.json (or what it runs) and push again`,
    });
  }
  if (phase === 'predeploy') store.releases.markStep(ctx.app.id, key);
}
