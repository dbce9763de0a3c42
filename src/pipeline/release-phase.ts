import { Writable } from 'node:stream';
import { Readable } from 'node:stream';
import { DeployError } from '../errors.js';
import type { DeployContext } from './context.js';
import { runOnceKey } from './repo-hooks.js';

/** A Writable that feeds the job log line by line, indented as Heroku does. */
function logStream(ctx: DeployContext): Writable {
  let partial = '';
  return new Writable({
    write(chunk, _enc, cb) {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) ctx.log.line(`       ${l}`);
      cb();
    },
    final(cb) {
      if (partial) ctx.log.line(`       ${partial}`);
      cb();
    },
  });
}

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
