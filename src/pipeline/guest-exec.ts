import { Readable, Writable } from 'node:stream';
import type { ExecRequest } from '../runtime/driver.js';
import type { DeployContext } from './context.js';
import { guestOf } from './guests.js';

/** A Writable that feeds the job log line by line, indented as Heroku does. */
export function logStream(ctx: DeployContext): Writable {
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

export interface GuestStep {
  argv: string[];
  env: Record<string, string>;
  /** The release it runs in (the driver running that release runs it). */
  release: number;
  releaseDir: string;
  /** Dockerfile apps: the release's image. */
  image?: string;
  keepWrites?: boolean;
  mounts?: ExecRequest['mounts'];
}

/**
 * A deploy step that runs app code — a `.slipway/<stage>` hook, the release
 * command, app.json's predeploy and postdeploy — runs in the app's guest,
 * through the driver of its release like `run`, never on the host as the
 * server's user. Its output goes to the job log; resolves with its exit code.
 */
export async function runInGuest(ctx: DeployContext, step: GuestStep): Promise<number> {
  const { driver, layout } = ctx.services;
  const out = logStream(ctx);
  try {
    return await driver.exec({
      app: ctx.app.name,
      release: step.release,
      releaseDir: step.releaseDir,
      dataDir: layout.data(ctx.app.name),
      env: step.env,
      argv: step.argv,
      image: step.image,
      keepWrites: step.keepWrites,
      mounts: step.mounts,
      // The app's own user and the `release` size (ps:resize APP release=…), under either driver.
      ...guestOf(ctx.services, ctx.app, 'release'),
      owner: ctx.services.orphans?.owner('deploy', ctx.job.id),
      stdin: Readable.from([]),
      stdout: out,
      stderr: out,
      signal: ctx.signal,
    });
  } finally {
    out.end();
  }
}
