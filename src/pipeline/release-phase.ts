import { DeployError } from '../errors.js';
import type { DeployContext } from './context.js';
import { runInGuest } from './guest-exec.js';
import { runOnceKey } from './repo-hooks.js';

/**
 * Heroku's release phase: the Procfile's `release:` command runs once in the
 * new release, with its config, before any of its processes start. A non-zero
 * exit stops the deploy; the old release never stopped serving.
 */
export async function runReleasePhase(ctx: DeployContext, env: Record<string, string>): Promise<void> {
  const command = ctx.processTypes.release;
  const version = ctx.release!.version;
  const { store } = ctx.services;
  if (!command) return;
  const key = runOnceKey(ctx, 'release-phase');
  if (store.releases.stepDone(ctx.app.id, key)) {
    ctx.log.info('The release command already ran for this release archive; not running it again');
    return;
  }
  ctx.log.info(`Running release command: ${command}`);
  // Its writes to /app vanish with its guest, as on Heroku and Dokku.
  const code = await runInGuest(ctx, {
    argv: ['bash', '-c', command],
    env,
    release: version,
    releaseDir: ctx.releaseDir!,
    image: ctx.image,
  });
  if (code !== 0) {
    throw new DeployError(`the release command exited with status ${code}`, {
      app: ctx.app.name,
      release: version,
      command,
      exitCode: code,
      hint: 'fix the `release:` line of your Procfile (or what it runs) and push again',
    });
  }
  store.releases.markStep(ctx.app.id, key);
}
