import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import crypto from 'node:crypto';
import type { Command } from 'commander';
import { appFor } from '../auth/access.js';
import { SlipwayError, invalid } from '../errors.js';
import { deploySource, promote, redeploy } from '../pipeline/deploys.js';
import { out, requirePlatform, type CommandContext } from './context.js';
import { followJob } from './releases.js';

export function registerDeploys(program: Command, ctx: CommandContext): void {
  program
    .command('promote')
    .description("deploy a staging app's release archive to another app (production) without building")
    .argument('<from>', 'the staging app')
    .argument('[version]', 'release to promote (default: its live release)')
    .requiredOption('--to <app>', 'the app to deploy it to')
    .action(async (fromName: string, version: string | undefined, o: { to: string }) => {
      const from = appFor(ctx.store, ctx.user, fromName);
      const to = appFor(ctx.store, ctx.user, o.to);
      if (from.id === to.id)
        throw invalid('an app cannot be promoted to itself', 'use `slipway rollback` to go back to an earlier release');
      const v = version === undefined ? undefined : /^v?(\d{1,9})$/.exec(version)?.[1];
      if (version !== undefined && !v) throw invalid(`"${version}" is not a release version`, 'write it as v3 or 3');
      const platform = requirePlatform(ctx);
      const previous = ctx.store.apps.byId(to.id)!.currentRelease;
      const job = promote(platform, from, to, { userName: ctx.user.name }, v === undefined ? undefined : Number(v));
      await followJob(ctx, job.id);
      if (previous != null) out(ctx, `To undo, run: slipway rollback ${to.name} v${previous}`);
    });

  program
    .command('deploy')
    .description(
      "run the pipeline again without a push: the app's source at its git provider when set, else the work tree (editable), artifact_urls (final), or the deploy branch; --source builds a tarball",
    )
    .argument('<app>')
    .option('--source <file>', 'a source .tar.gz to build (host CLI only)')
    .action(async (name: string, o: { source?: string }) => {
      const app = appFor(ctx.store, ctx.user, name);
      const platform = requirePlatform(ctx);
      let job;
      if (o.source) {
        if (!ctx.local)
          throw new SlipwayError('local_only', '--source reads a file on the server host', {
            hint: `over the network, POST the tarball to /api/v1/apps/${app.name}/builds`,
          });
        if (!fs.existsSync(o.source)) throw invalid(`${o.source} does not exist`);
        // Copied in: the job may wait in line, and the caller's file may change or go meanwhile.
        const dir = path.join(ctx.layout.app(app.name), 'uploads');
        await fsp.mkdir(dir, { recursive: true });
        const copy = path.join(dir, `source-${crypto.randomUUID()}.tar.gz`);
        await fsp.copyFile(o.source, copy);
        job = deploySource(platform, app, { userName: ctx.user.name }, copy);
      } else {
        job = redeploy(platform, app, { userName: ctx.user.name });
      }
      await followJob(ctx, job.id);
    });
}
