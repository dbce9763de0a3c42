import fs from 'node:fs';
import { SlipwayError, invalid } from '../errors.js';
import type { App, Job, Release } from '../store/index.js';
import type { DeploySource, Services } from './context.js';
import type { DeployQueue } from './queue.js';
import { settingsOf } from '../apps/settings.js';

/**
 * Every way a deploy starts, as one function each over the same queue: the
 * CLI, SSH commands, the git hooks and the REST API all call these, so a
 * promotion from the API is exactly a promotion from the CLI.
 */
export interface DeployDeps {
  services: Services;
  queue: DeployQueue;
}

export interface Actor {
  userName: string;
}

/** A release archive built elsewhere (CI), uploaded as-is: deployed without a build, in any mode. */
export function deployArtifact(deps: DeployDeps, app: App, actor: Actor, file: string, sha256: string): Job {
  return deps.queue.enqueue({
    app,
    userName: actor.userName,
    kind: 'upload',
    mode: 'final',
    releaseKind: 'artifact',
    source: { kind: 'archive', archive: file, sha256, description: `uploaded artifact sha256 ${sha256.slice(0, 12)}…` },
  });
}

/** A source tarball to build in the app's own mode (Heroku's Build API, Dokku's git:from-archive). */
export function deploySource(deps: DeployDeps, app: App, actor: Actor, file: string): Job {
  if (app.mode === 'final') throw finalNeverBuilds(app);
  return deps.queue.enqueue({ app, userName: actor.userName, kind: 'build', mode: app.mode, releaseKind: 'build', source: { kind: 'tarball', file } });
}

/**
 * `slipway deploy APP`: runs the pipeline again without a push — the work tree
 * as it is (editable), the app's artifact URLs (final, when set), or the head
 * of the deploy branch.
 */
export function redeploy(deps: DeployDeps, app: App, actor: Actor): Job {
  const urls = artifactUrls(app);
  let source: DeploySource;
  const origin = settingsOf(app).get('origin');
  if (app.mode === 'editable') source = origin ? { kind: 'worktree', origin, branch: app.deployBranch } : { kind: 'worktree' };
  else if (app.mode === 'final' && urls.length) source = { kind: 'urls', urls };
  else if (app.mode === 'final') source = { kind: 'live' };
  else {
    const commit = branchHead(deps, app);
    source = { kind: 'git', commit, ref: `refs/heads/${app.deployBranch}` };
  }
  return deps.queue.enqueue({ app, userName: actor.userName, kind: 'deploy', mode: source.kind === 'live' ? 'final' : app.mode, releaseKind: 'build', source });
}

/** Copies a release of `from` (default: its live one) to `to` as a new release, with `to`'s own config. */
export function promote(deps: DeployDeps, from: App, to: App, actor: Actor, version?: number): Job {
  const release = promotable(deps, from, version);
  return deps.queue.enqueue({
    app: to,
    userName: actor.userName,
    kind: 'promote',
    mode: 'final',
    releaseKind: 'promote',
    source: { kind: 'archive', archive: release.archivePath!, sha256: release.sha256 ?? undefined, fromApp: from.name, fromVersion: release.version, commit: release.commit },
  });
}

/**
 * A push of commit X to a final app deploys what its upstream built from X.
 * Returns undefined when the upstream never built X, so the caller can refuse
 * the push with a message naming where to build it.
 */
export function upstreamReleaseFor(deps: DeployDeps, app: App, commit: string): { upstream: App; release: Release } | undefined {
  const upstream = upstreamOf(deps, app);
  if (!upstream) return undefined;
  const release = deps.services.store.releases.latestSucceededForCommit(upstream.id, commit);
  return release && release.archivePath && fs.existsSync(release.archivePath) ? { upstream, release } : undefined;
}

export function upstreamOf(deps: DeployDeps, app: App): App | undefined {
  const name = settingsOf(app).get('upstream');
  return name ? deps.services.store.apps.byName(name) : undefined;
}

function promotable(deps: DeployDeps, from: App, version?: number): Release {
  const v = version ?? from.currentRelease;
  const release = v == null ? undefined : deps.services.store.releases.get(from.id, v);
  if (!release) throw new SlipwayError('not_found', version ? `${from.name} has no release v${version}` : `${from.name} has no live release to promote`, { status: 404, hint: `list them with \`slipway releases ${from.name}\`` });
  if (release.status !== 'succeeded' || !release.archivePath || !fs.existsSync(release.archivePath)) {
    throw new SlipwayError('not_promotable', `v${release.version} of ${from.name} has no release archive (it is ${release.status})`, {
      status: 409,
      hint: from.mode === 'editable' ? 'editable apps do not bundle archives; promote from a cooking (staging) app' : `pick a succeeded release from \`slipway releases ${from.name}\``,
    });
  }
  return release;
}

export function artifactUrls(app: App): string[] {
  return settingsOf(app).get('artifact_urls');
}

function branchHead(deps: DeployDeps, app: App): string {
  const ref = `${deps.services.layout.repo(app.name)}/refs/heads/${app.deployBranch}`;
  if (fs.existsSync(ref)) return fs.readFileSync(ref, 'utf8').trim();
  const packed = `${deps.services.layout.repo(app.name)}/packed-refs`;
  const line = fs.existsSync(packed) ? fs.readFileSync(packed, 'utf8').split('\n').find((l) => l.endsWith(` refs/heads/${app.deployBranch}`)) : undefined;
  if (!line) throw invalid(`${app.name} has nothing on ${app.deployBranch} to deploy yet`, `push it first: git push paas ${app.deployBranch}`);
  return line.split(' ')[0]!;
}

const finalNeverBuilds = (app: App) =>
  new SlipwayError('final_never_builds', `${app.name} is in final mode: it deploys release archives and never builds`, {
    status: 409,
    hint: `build on its staging app and promote, or upload an artifact (POST /api/v1/apps/${app.name}/artifacts)`,
  });
