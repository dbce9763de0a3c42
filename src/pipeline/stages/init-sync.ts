import path from 'node:path';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { execa } from 'execa';
import * as tar from 'tar';
import { DEFAULT_EGRESS, gitEgress, shownUrl } from '../../egress/index.js';
import { DeployError } from '../../errors.js';
import { emptyDir } from '../../builder/build-env.js';
import { unpackArchive } from '../../releases/archive.js';
import type { DeployContext, StageFn } from '../context.js';
import { describeSource, sourceCommit } from '../source.js';
import { fetchProvider } from '../provider-fetch.js';
import { settingsOf } from '../../apps/settings.js';

/**
 * The RFC's initialization/sync procedure: the app's directories exist, the
 * release is recorded (pending), and the code to build is put in place: a
 * pushed commit checked out (by the mode's workspace: into a fresh build dir, or
 * in editable mode the work tree moved in place), a source tarball unpacked.
 * Archive sources wait for release-sync.
 */
export const initSync: StageFn = async (ctx) => {
  const { layout, store } = ctx.services;
  const app = ctx.app.name;
  for (const dir of [layout.app(app), layout.cache(app), layout.data(app), layout.releases(app), layout.archives(app), layout.logs(app)]) {
    await fsp.mkdir(dir, { recursive: true });
  }
  // A provider's branch is fetched into the app's repo first; from there on the deploy is a push's.
  if (ctx.source.kind === 'provider') ctx.source = await fetchProvider(ctx, ctx.source);
  const src = ctx.source;
  ctx.release = store.releases.create({
    appId: ctx.app.id,
    kind: ctx.releaseKind,
    commit: sourceCommit(src),
    author: ctx.job.userName,
    description:
      ctx.releaseKind === 'rollback' && src.kind === 'archive' ? `Rollback to v${src.fromVersion}` : `Deploy ${describeSource(src)}`,
    config: ctx.config,
    sourceVersion: src.kind === 'archive' ? (src.fromVersion ?? null) : null,
    jobId: ctx.job.id,
  });
  store.jobs.setRelease(ctx.job.id, ctx.release.version);
  ctx.log.info(`Release v${ctx.release.version}`);
  if (src.kind === 'git') await ctx.workspace.checkout(ctx, src.commit, src.gitEnv);
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

/** An empty build dir, emptied in place: the build's guest may have it mounted already (a warm build). */
export async function freshDir(ctx: DeployContext): Promise<void> {
  await emptyDir(ctx.workDir);
}

/** `git archive <commit>` straight into the build dir: no work tree, no .git. */
export async function exportCommit(ctx: DeployContext, commit: string, gitEnv?: Record<string, string>): Promise<void> {
  const git = execa('git', ['archive', '--format=tar', commit], {
    cwd: ctx.services.layout.repo(ctx.app.name),
    env: { ...process.env, ...gitEnv },
    extendEnv: false,
    stdin: 'ignore',
    // The tar streams into the build dir; only stderr is kept, for the error.
    buffer: { stdout: false },
    reject: false,
  });
  try {
    await pipeline(git.stdout, tar.extract({ cwd: ctx.workDir, strict: true, preserveOwner: false }));
  } catch (err) {
    git.kill();
    throw unwritable(ctx, commit, err);
  }
  const run = await git;
  if (run.failed) throw gitFailed(ctx, commit, 'git archive', run.exitCode ?? 1, run.stderr);
  const entries = await fsp.readdir(ctx.workDir);
  ctx.log.info(`Checked out ${commit.slice(0, 7)} (${entries.length} top-level entries)`);
}

/**
 * Editable mode keeps one work tree per app, a real git checkout, and moves it
 * to the pushed commit in place (the RFC's "local" remote is the app's bare
 * repo). Files the build made and git ignores stay, which is what makes
 * iteration fast; `node_modules` survives between pushes.
 */
export async function updateWorkTree(ctx: DeployContext, commit: string, gitEnv?: Record<string, string>): Promise<void> {
  const repo = ctx.services.layout.repo(ctx.app.name);
  const work = ctx.workDir;
  const env = { ...process.env, ...gitEnv };
  const tree = await workTreeGit(ctx, env);
  await git(ctx, [...tree, 'fetch', '--quiet', '--no-tags', repo, commit], env);
  await git(ctx, [...tree, 'checkout', '--quiet', '--force', '--detach', commit], env);
  ctx.log.info(`Work tree ${work} is at ${commit.slice(0, 7)}`);
}

/**
 * The RFC's editable init: the work tree follows the project's real remote,
 * `origin`, fetched under the egress rules (its host resolved and checked, a
 * file URL only as an admin set it, git held to the allowed transports).
 */
async function pullOrigin(ctx: DeployContext, origin: string, branch: string): Promise<void> {
  const transport = await gitEgress({
    url: origin,
    target: { setting: 'origin', url: origin },
    settings: ctx.services.settings.egress ?? DEFAULT_EGRESS,
    trusted: settingsOf(ctx.app).setByAdmin('origin', origin),
  });
  const work = ctx.workDir;
  const tree = await workTreeGit(ctx, process.env);
  const env = { ...process.env, ...transport.env };
  // `--` ends options: the URL and branch come from app settings and must never be read as flags.
  await git(ctx, [...transport.args, ...tree, 'fetch', '--quiet', '--no-tags', '--', origin, branch], env, transport.timeoutMs).catch(
    (err: DeployError) => {
      throw new DeployError(`origin: ${shownUrl(origin)}: ${err.message}`, {
        app: ctx.app.name,
        command: err.command,
        exitCode: err.exitCode,
        hint: `check the origin setting (slipway apps:get ${ctx.app.name} origin) and that its server answers`,
      });
    },
  );
  await git(ctx, [...tree, 'checkout', '--quiet', '--force', '--detach', 'FETCH_HEAD'], process.env);
  ctx.log.info(`Work tree ${work} is at ${branch} of ${shownUrl(origin)}`);
}
/**
 * The work tree belongs to the app's user (its builds write there), so the
 * daemon never lets git read anything from it: the repository lives apart,
 * root's, in `apps/APP/work.git`, and is always named explicitly. A `.git`
 * the app planted (a config with `core.fsmonitor`, a gitlink elsewhere) is
 * never looked at. `work/.git` is only a pointer for people.
 */
async function workTreeGit(ctx: DeployContext, env: NodeJS.ProcessEnv): Promise<string[]> {
  const work = ctx.workDir;
  const gitDir = path.join(ctx.services.layout.app(ctx.app.name), 'work.git');
  if (!fs.existsSync(path.join(gitDir, 'HEAD'))) {
    await fsp.mkdir(work, { recursive: true });
    // Moves a repository a work tree already had into gitDir.
    await git(ctx, ['init', '--quiet', `--separate-git-dir=${gitDir}`, work], env);
  }
  return [
    '-c',
    'safe.directory=*',
    '-c',
    'core.fsmonitor=false',
    '-c',
    'core.hooksPath=/dev/null',
    `--git-dir=${gitDir}`,
    `--work-tree=${work}`,
  ];
}

/** Runs git; `timeoutMs` kills it (a fetch that stalls must not hold the app's deploy queue). */
async function git(ctx: DeployContext, args: string[], env: NodeJS.ProcessEnv, timeoutMs?: number): Promise<void> {
  // A work tree belongs to the app's user (its git dir stays ours): git would call it dubious.
  const run = await execa('git', ['-c', `safe.directory=${ctx.workDir}`, ...args], {
    env,
    extendEnv: false,
    stdin: 'ignore',
    stdout: 'ignore',
    cancelSignal: ctx.signal,
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
    reject: false,
  });
  if (!run.failed) return;
  // git could not be started at all: that error, as it is.
  if (run.exitCode === undefined && !run.signal && !run.timedOut && !run.isCanceled) throw run;
  const subcommand = `git ${args.find((a) => ['init', 'fetch', 'checkout'].includes(a)) ?? ''}`;
  const stderr = run.timedOut ? `${subcommand} took longer than ${timeoutMs! / 1000}s (egress total timeout)` : run.stderr;
  throw gitFailed(ctx, args.at(-1)!, subcommand, run.exitCode ?? 1, stderr);
}

/**
 * A file of the commit this server cannot or will not write (a name too long
 * for its file system, a link out of the app, a full disk): said of the
 * commit's file, never with the server's own paths, which node-tar's and
 * fs's messages carry.
 */
function unwritable(ctx: DeployContext, commit: string, err: unknown): DeployError {
  const e = err as NodeJS.ErrnoException & { entry?: { path?: string }; linkpath?: string };
  const file = e.entry?.path ?? (e.path ? path.relative(ctx.workDir, e.path) : undefined);
  const shown = file && !file.startsWith('..') ? ` (${file.length > 60 ? `${file.slice(0, 60)}…, ${file.length} characters` : file})` : '';
  const why =
    e.code === 'TAR_ENTRY_ERROR' && /linkpath escapes/.test(e.message)
      ? `a link points outside the app${file ? ` (${file} -> ${e.linkpath})` : ''}`
      : `${
          UNWRITABLE[e.code ?? ''] ??
          `a file of it cannot be written here (${e.message
            .replace(/^TAR_ENTRY_ERROR: /, '')
            .split(ctx.workDir)
            .join('.')})`
        }${shown}`;
  return new DeployError(`could not check out ${commit.slice(0, 12)}: ${why}`, {
    app: ctx.app.name,
    command: 'git archive',
    hint: e.code === 'ENOSPC' ? 'ask an admin to free space on the server' : 'rename or remove that file in a new commit and push again',
    cause: err,
  });
}

const UNWRITABLE: Record<string, string> = {
  ENAMETOOLONG: "a file name is longer than this server's file system allows",
  ENOSPC: "the server's disk is full",
  EILSEQ: "a file name is not valid on this server's file system",
};

function gitFailed(ctx: DeployContext, what: string, command: string, exitCode: number, stderr: string): DeployError {
  return new DeployError(`could not check out ${what.slice(0, 12)}: ${stderr.trim() || `${command} exited ${exitCode}`}`, {
    app: ctx.app.name,
    command,
    exitCode,
  });
}
