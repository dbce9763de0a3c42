import { Readable } from 'node:stream';
import { DeployError } from '../errors.js';
import type { DeployContext } from './context.js';
import { runOnceKey } from './repo-hooks.js';
import { logStream } from './job-log.js';
import { guestOf } from './guests.js';
import { readAppJson } from './app-json.js';

/**
 * Heroku's release phase: the Procfile's `release:` command runs once in the
 * new release, with its config, before any of its processes start. A non-zero
 * exit stops the deploy; the old release never stopped serving.
 */
export async function runReleasePhase(ctx: DeployContext, env: Record<string, string>): Promise<void> {
  const command = ctx.processTypes.release;
  const version = ctx.release!.version;
  const { store, driver, layout } = ctx.services;
  if (!command) return;
  const key = runOnceKey(ctx, 'release-phase');
  if (store.releases.stepDone(ctx.app.id, key)) {
    ctx.log.info('The release command already ran for this release archive; not running it again');
    return;
  }
  ctx.log.info(`Running release command: ${command}`);
  const stdout = logStream(ctx);
  const code = await driver.exec({
    app: ctx.app.name,
    release: version,
    releaseDir: ctx.releaseDir!,
    dataDir: layout.data(ctx.app.name),
    env,
    argv: ['bash', '-c', command],
    image: ctx.image,
    ...guestOf(ctx.services, ctx.app, 'release'),
    stdin: Readable.from([]),
    stdout,
    stderr: stdout,
    signal: ctx.signal,
    owner: ctx.services.orphans?.owner('deploy', ctx.job.id),
  });
  stdout.end();
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

/**
 * app.json's `scripts.predeploy` and `postdeploy`, as Dokku runs them: in a
 * guest of the new release with its config. Predeploy runs before any process
 * starts and its writes to /app are kept in the release (Dokku commits them to
 * the image); postdeploy runs once the router switched, and its writes vanish.
 */
export async function runAppJsonScript(ctx: DeployContext, which: 'predeploy' | 'postdeploy', env: Record<string, string>): Promise<void> {
  const command = readAppJson(ctx.releaseDir!).scripts[which];
  if (!command) return;
  const version = ctx.release!.version;
  ctx.log.info(`Running ${which} from app.json: ${command}`);
  const out = logStream(ctx);
  const code = await ctx.services.driver.exec({
    app: ctx.app.name,
    release: version,
    releaseDir: ctx.releaseDir!,
    dataDir: ctx.services.layout.data(ctx.app.name),
    env,
    argv: ['bash', '-c', command],
    image: ctx.image,
    persist: which === 'predeploy',
    ...guestOf(ctx.services, ctx.app, 'release'),
    stdin: Readable.from([]),
    stdout: out,
    stderr: out,
    signal: ctx.signal,
    dyno: which,
  });
  out.end();
  if (code !== 0) {
    throw new DeployError(`app.json ${which} exited with status ${code}`, {
      app: ctx.app.name,
      release: version,
      command,
      exitCode: code,
      hint: `fix scripts.${which} in app.json and push again`,
    });
  }
}
