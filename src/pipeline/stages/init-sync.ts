import fsp from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import { DeployError } from '../../errors.js';
import type { DeployContext, StageFn } from '../context.js';

/**
 * The RFC's initialization/sync procedure: the app's directories exist, the
 * release is recorded (pending), and a pushed commit is checked out into the
 * build dir. Archive sources are unpacked later, by release-sync.
 */
export const initSync: StageFn = async (ctx) => {
  const { layout, store } = ctx.services;
  const app = ctx.app.name;
  for (const dir of [layout.app(app), layout.cache(app), layout.data(app), layout.releases(app), layout.archives(app), layout.logs(app)]) {
    await fsp.mkdir(dir, { recursive: true });
  }
  const src = ctx.source;
  ctx.release = store.releases.create({
    appId: ctx.app.id,
    kind: ctx.releaseKind,
    commit: src.kind === 'git' ? src.commit : (src.commit ?? null),
    author: ctx.job.userName,
    description: describeRelease(ctx),
    config: ctx.config,
    sourceVersion: src.kind === 'archive' ? (src.fromVersion ?? null) : null,
    jobId: ctx.job.id,
  });
  store.jobs.setRelease(ctx.job.id, ctx.release.version);
  ctx.log.info(`Release v${ctx.release.version}`);
  if (src.kind === 'git') {
    await fsp.rm(ctx.workDir, { recursive: true, force: true });
    await fsp.mkdir(ctx.workDir, { recursive: true });
    await checkout(ctx, src.commit);
  }
};

function describeRelease(ctx: DeployContext): string {
  const src = ctx.source;
  if (ctx.releaseKind === 'rollback') return `Rollback to v${src.kind === 'archive' ? src.fromVersion : '?'}`;
  if (src.kind === 'git') return `Deploy ${src.commit.slice(0, 7)}`;
  return src.fromApp ? `Promote ${src.fromApp} v${src.fromVersion}` : 'Deploy release archive';
}

/** `git archive <commit>` straight into the build dir: no work tree, no .git. */
async function checkout(ctx: DeployContext, commit: string): Promise<void> {
  const git = spawn('git', ['archive', '--format=tar', commit], { cwd: ctx.services.layout.repo(ctx.app.name), stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  git.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number>((resolve) => git.on('close', (code) => resolve(code ?? 1)));
  await pipeline(git.stdout, tar.extract({ cwd: ctx.workDir, strict: true, preserveOwner: false }));
  const code = await exited;
  if (code !== 0) {
    throw new DeployError(`could not check out ${commit.slice(0, 7)}: ${stderr.trim() || `git archive exited ${code}`}`, {
      app: ctx.app.name,
      command: 'git archive',
      exitCode: code,
    });
  }
  const entries = await fsp.readdir(ctx.workDir);
  ctx.log.info(`Checked out ${commit.slice(0, 7)} (${entries.length} top-level entries)`);
}
