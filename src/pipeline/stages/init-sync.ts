import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import { DeployError } from '../../errors.js';
import { unpackArchive } from '../../releases/archive.js';
import type { DeployContext, StageFn } from '../context.js';
import { describeSource, sourceCommit } from '../source.js';

/**
 * The RFC's initialization/sync procedure: the app's directories exist, the
 * release is recorded (pending), and the code to build is put in place: a
 * pushed commit checked out, a source tarball unpacked, or — in editable mode —
 * the work tree updated in place. Archive sources wait for release-sync.
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
    commit: sourceCommit(src),
    author: ctx.job.userName,
    description: ctx.releaseKind === 'rollback' && src.kind === 'archive' ? `Rollback to v${src.fromVersion}` : `Deploy ${describeSource(src)}`,
    config: ctx.config,
    sourceVersion: src.kind === 'archive' ? (src.fromVersion ?? null) : null,
    jobId: ctx.job.id,
  });
  store.jobs.setRelease(ctx.job.id, ctx.release.version);
  ctx.log.info(`Release v${ctx.release.version}`);
  if (src.kind === 'git' && ctx.mode === 'editable') await updateWorkTree(ctx, src.commit, src.gitEnv);
  else if (src.kind === 'git') await freshDir(ctx).then(() => exportCommit(ctx, src.commit, src.gitEnv));
  else if (src.kind === 'tarball') {
    await freshDir(ctx);
    await unpackArchive({ archive: src.file, dest: ctx.workDir });
    ctx.log.info('Unpacked the source tarball');
  } else if (src.kind === 'worktree' && src.origin) {
    await pullOrigin(ctx, src.origin, src.branch ?? ctx.app.deployBranch);
  } else if (src.kind === 'worktree' && !fs.existsSync(ctx.workDir)) {
    throw new DeployError(`${app} has no work tree yet`, { app, hint: 'push to it once first, or set its origin remote' });
  }
};

async function freshDir(ctx: DeployContext): Promise<void> {
  await fsp.rm(ctx.workDir, { recursive: true, force: true });
  await fsp.mkdir(ctx.workDir, { recursive: true });
}

/** `git archive <commit>` straight into the build dir: no work tree, no .git. */
async function exportCommit(ctx: DeployContext, commit: string, gitEnv?: Record<string, string>): Promise<void> {
  const git = spawn('git', ['archive', '--format=tar', commit], {
    cwd: ctx.services.layout.repo(ctx.app.name),
    env: { ...process.env, ...gitEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  git.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number>((resolve) => git.on('close', (code) => resolve(code ?? 1)));
  await pipeline(git.stdout, tar.extract({ cwd: ctx.workDir, strict: true, preserveOwner: false }));
  const code = await exited;
  if (code !== 0) throw gitFailed(ctx, commit, 'git archive', code, stderr);
  const entries = await fsp.readdir(ctx.workDir);
  ctx.log.info(`Checked out ${commit.slice(0, 7)} (${entries.length} top-level entries)`);
}

/**
 * Editable mode keeps one work tree per app, a real git checkout, and moves it
 * to the pushed commit in place (the RFC's "local" remote is the app's bare
 * repo). Files the build made and git ignores stay, which is what makes
 * iteration fast; `node_modules` survives between pushes.
 */
async function updateWorkTree(ctx: DeployContext, commit: string, gitEnv?: Record<string, string>): Promise<void> {
  const repo = ctx.services.layout.repo(ctx.app.name);
  const work = ctx.workDir;
  const env = { ...process.env, ...gitEnv };
  if (!fs.existsSync(`${work}/.git`)) {
    await fsp.mkdir(work, { recursive: true });
    await git(ctx, ['init', '--quiet', work], env);
  }
  await git(ctx, ['-C', work, 'fetch', '--quiet', '--no-tags', repo, commit], env);
  await git(ctx, ['-C', work, 'checkout', '--quiet', '--force', '--detach', commit], env);
  ctx.log.info(`Work tree ${work} is at ${commit.slice(0, 7)}`);
}

/** The RFC's editable init: the work tree follows the project's real remote, `origin`. */
async function pullOrigin(ctx: DeployContext, origin: string, branch: string): Promise<void> {
  const work = ctx.workDir;
  if (!fs.existsSync(`${work}/.git`)) {
    await fsp.mkdir(work, { recursive: true });
    await git(ctx, ['init', '--quiet', work], process.env);
  }
  // `--` ends options: the URL and branch come from app settings and must never be read as flags.
  await git(ctx, ['-C', work, 'fetch', '--quiet', '--no-tags', '--', origin, branch], process.env);
  await git(ctx, ['-C', work, 'checkout', '--quiet', '--force', '--detach', 'FETCH_HEAD'], process.env);
  ctx.log.info(`Work tree ${work} is at ${branch} of ${origin}`);
}

function git(ctx: DeployContext, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    // A docker app's work tree belongs to the app's user (its .git stays ours): git would call it dubious.
    const child = spawn('git', ['-c', `safe.directory=${ctx.workDir}`, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(gitFailed(ctx, args.at(-1)!, `git ${args.find((a) => !a.startsWith('-') && a !== ctx.workDir) ?? ''}`, code ?? 1, stderr))));
  });
}

function gitFailed(ctx: DeployContext, what: string, command: string, exitCode: number, stderr: string): DeployError {
  return new DeployError(`could not check out ${what.slice(0, 12)}: ${stderr.trim() || `${command} exited ${exitCode}`}`, { app: ctx.app.name, command, exitCode });
}
