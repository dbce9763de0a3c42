/**
 * What happens when X deploys — a push, a rollback, a promotion, a config
 * change, an upload, a source build, a redeploy — is answered by three files:
 *   - here, INTENTS: which job kind, mode, release kind, source and config each
 *     way of starting a deploy gets;
 *   - modes.ts: which stages each mode runs (MODES) and where its code is
 *     assembled and run from (WORKSPACES);
 *   - runner.ts: the set-up, the stages in order (rollback on error, notify
 *     always) and the clean-up, in one try/finally.
 * The queue only schedules and locks. Entrances (git hooks, CLI, SSH, API)
 * build a DeployIntent and call startDeploy; nothing else picks a mode or kind.
 */
import fs from 'node:fs';
import { SlipwayError, invalid } from '../errors.js';
import type { App, DeployJobKind, Job, Mode, Release, ReleaseKind, Store } from '../store/index.js';
import type { DeployPlan, DeploySource, Services } from './context.js';
import { MODES } from './modes.js';
import type { DeployQueue } from './queue.js';
import { settingsOf } from '../apps/settings.js';

interface By {
  app: App;
  userName: string;
}

/** Every way a deploy starts. */
export type DeployIntent =
  /** A push to the deploy branch; a final app's push deploys what its upstream built from the commit (see upstreamReleaseFor). */
  | (By & { kind: 'push'; commit: string; ref: string; gitEnv?: Record<string, string>; upstream?: { app: App; release: Release } })
  /** `slipway rollback`: an earlier release's archive with that release's config. */
  | (By & { kind: 'rollback'; target: Release })
  /** A release of `from` copied to `app` with `app`'s own config. */
  | (By & { kind: 'promote'; from: App; release: Release })
  /** `config:set`/`unset`: the live release's archive with changed config. */
  | (By & { kind: 'config'; changes: Record<string, string | undefined> })
  /** A release archive built elsewhere (CI), uploaded as-is. */
  | (By & { kind: 'upload'; file: string; sha256: string })
  /** A source tarball to build (Heroku's Build API, Dokku's git:from-archive). */
  | (By & { kind: 'build'; file: string })
  /** `slipway deploy APP`: the pipeline again without a push. */
  | (By & { kind: 'redeploy' })
  /** `slipway deploy APP` with a `source` set, or a provider's push webhook (`commit`): fetched from the provider, then as a push. */
  | (By & { kind: 'fetch'; commit?: string });

export type IntentKind = DeployIntent['kind'];

/** The job kinds deploys are listed under (`jobs`, store/jobs.ts); a redeploy is listed as `deploy`. */
export type { DeployJobKind };

/** What the queue runs (the plan an intent maps to; the type sits in context.ts, below the queue and the runner). */
export type { DeployPlan };

interface Row<I extends DeployIntent> {
  job: DeployJobKind;
  /** A fixed mode, or `own`: the app's mode (its environment's default or its setting). */
  mode: Mode | 'own';
  releaseKind: ReleaseKind | ((i: I) => ReleaseKind);
  source: (i: I, services: Services) => DeploySource;
  config?: (i: I) => Record<string, string>;
  configChanges?: (i: I) => Record<string, string | undefined>;
}

type Rows = { [K in IntentKind]: Row<Extract<DeployIntent, { kind: K }>> };

/**
 * The intent table. Everything that never builds (a rollback, a promotion, a
 * config change, an upload) runs in final mode from a release archive; a
 * push, a source build and a redeploy run in the app's own mode.
 */
export const INTENTS: Rows = {
  push: {
    job: 'push',
    mode: 'own',
    releaseKind: (i) => (i.upstream ? 'promote' : 'build'),
    source: (i) =>
      i.upstream
        ? { ...archiveOf(i.upstream.release), fromApp: i.upstream.app.name, commit: i.commit }
        : { kind: 'git', commit: i.commit, ref: i.ref, gitEnv: i.gitEnv },
  },
  rollback: { job: 'rollback', mode: 'final', releaseKind: 'rollback', source: (i) => archiveOf(i.target), config: (i) => i.target.config },
  promote: { job: 'promote', mode: 'final', releaseKind: 'promote', source: (i) => ({ ...archiveOf(i.release), fromApp: i.from.name }) },
  config: { job: 'config', mode: 'final', releaseKind: 'config', source: () => ({ kind: 'live' }), configChanges: (i) => i.changes },
  upload: {
    job: 'upload',
    mode: 'final',
    releaseKind: 'artifact',
    source: (i) => ({
      kind: 'archive',
      archive: i.file,
      sha256: i.sha256,
      description: `uploaded artifact sha256 ${i.sha256.slice(0, 12)}…`,
    }),
  },
  build: { job: 'build', mode: 'own', releaseKind: 'build', source: (i) => ({ kind: 'tarball', file: i.file }) },
  redeploy: { job: 'deploy', mode: 'own', releaseKind: 'build', source: (i, services) => redeploySource(services, i.app) },
  fetch: {
    job: 'deploy',
    mode: 'own',
    releaseKind: 'build',
    source: (i) => ({ kind: 'provider', source: settingsOf(i.app).get('source') ?? '', commit: i.commit }),
  },
};

/** Looks the intent up in INTENTS. */
export function planDeploy(services: Services, intent: DeployIntent): DeployPlan {
  const row = INTENTS[intent.kind] as Row<DeployIntent>;
  const mode = row.mode === 'own' ? intent.app.mode : row.mode;
  return {
    app: intent.app,
    userName: intent.userName,
    kind: row.job,
    mode,
    releaseKind: typeof row.releaseKind === 'function' ? row.releaseKind(intent) : row.releaseKind,
    source: row.source(intent, services),
    stages: MODES[mode],
    config: row.config?.(intent),
    configChanges: row.configChanges?.(intent),
  };
}

/** Queues the deploy an intent names; returns its job. */
export function startDeploy(deps: DeployDeps, intent: DeployIntent): Job {
  return deps.queue.enqueue(planDeploy(deps.services, intent));
}

/** The archive of an existing release, as a deploy source. */
function archiveOf(r: Release): Extract<DeploySource, { kind: 'archive' }> {
  return { kind: 'archive', archive: r.archivePath!, sha256: r.sha256 ?? undefined, fromVersion: r.version, commit: r.commit };
}

/**
 * A redeploy takes the work tree as it is (editable; first moved to its
 * origin's branch when one is set), the app's artifact URLs (final, when set),
 * the live archive (final), or the head of the deploy branch.
 */
function redeploySource(services: Services, app: App): DeploySource {
  const urls = artifactUrls(app);
  if (app.mode === 'editable') {
    const origin = settingsOf(app).get('origin');
    return origin ? { kind: 'worktree', origin, branch: app.deployBranch } : { kind: 'worktree' };
  }
  if (app.mode === 'final') return urls.length ? { kind: 'urls', urls } : { kind: 'live' };
  return { kind: 'git', commit: branchHead(services, app), ref: `refs/heads/${app.deployBranch}` };
}

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

/**
 * A config change is a release, as on Heroku: the live release's archive with
 * the new config. Returns the job making it, or undefined when the app has no
 * live archive yet and the change was stored at once (it applies on the next deploy).
 */
export function startConfigRelease(opts: {
  store: Store;
  queue?: DeployQueue;
  app: App;
  userName: string;
  changes: Record<string, string | undefined>;
}): Job | undefined {
  const { store, queue, app } = opts;
  const live = app.currentRelease == null ? undefined : store.releases.get(app.id, app.currentRelease);
  if (!live?.archivePath || !queue) {
    store.apps.updateConfig(app.id, opts.changes);
    return undefined;
  }
  return startDeploy({ services: queue.services, queue }, { kind: 'config', app, userName: opts.userName, changes: opts.changes });
}

/** A release archive built elsewhere (CI), uploaded as-is: deployed without a build, in any mode. */
export function deployArtifact(deps: DeployDeps, app: App, actor: Actor, file: string, sha256: string): Job {
  return startDeploy(deps, { kind: 'upload', app, userName: actor.userName, file, sha256 });
}

/** A source tarball to build in the app's own mode (Heroku's Build API, Dokku's git:from-archive). */
export function deploySource(deps: DeployDeps, app: App, actor: Actor, file: string): Job {
  if (app.mode === 'final') throw finalNeverBuilds(app);
  return startDeploy(deps, { kind: 'build', app, userName: actor.userName, file });
}

/** `slipway deploy APP`: fetches the app's `source` when it has one, else runs the pipeline again without a push (see redeploySource). */
export function redeploy(deps: DeployDeps, app: App, actor: Actor): Job {
  if (settingsOf(app).get('source')) return fetchAndDeploy(deps, app, actor);
  return startDeploy(deps, { kind: 'redeploy', app, userName: actor.userName });
}

/** Deploys the app's `source` from its provider: the branch head, or `commit` (a push webhook's). */
export function fetchAndDeploy(deps: DeployDeps, app: App, actor: Actor, commit?: string): Job {
  if (app.mode === 'final') throw finalNeverBuilds(app);
  return startDeploy(deps, { kind: 'fetch', app, userName: actor.userName, commit });
}

/** Copies a release of `from` (default: its live one) to `to` as a new release, with `to`'s own config. */
export function promote(deps: DeployDeps, from: App, to: App, actor: Actor, version?: number): Job {
  return startDeploy(deps, { kind: 'promote', app: to, userName: actor.userName, from, release: promotable(deps, from, version) });
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
  if (!release)
    throw new SlipwayError(
      'not_found',
      version ? `${from.name} has no release v${version}` : `${from.name} has no live release to promote`,
      { status: 404, hint: `list them with \`slipway releases ${from.name}\`` },
    );
  if (release.status !== 'succeeded' || !release.archivePath || !fs.existsSync(release.archivePath)) {
    throw new SlipwayError('not_promotable', `v${release.version} of ${from.name} has no release archive (it is ${release.status})`, {
      status: 409,
      hint:
        from.mode === 'editable'
          ? 'editable apps do not bundle archives; promote from a cooking (staging) app'
          : `pick a succeeded release from \`slipway releases ${from.name}\``,
    });
  }
  return release;
}

export function artifactUrls(app: App): string[] {
  return settingsOf(app).get('artifact_urls');
}

function branchHead(services: Services, app: App): string {
  const ref = `${services.layout.repo(app.name)}/refs/heads/${app.deployBranch}`;
  if (fs.existsSync(ref)) return fs.readFileSync(ref, 'utf8').trim();
  const packed = `${services.layout.repo(app.name)}/packed-refs`;
  const line = fs.existsSync(packed)
    ? fs
        .readFileSync(packed, 'utf8')
        .split('\n')
        .find((l) => l.endsWith(` refs/heads/${app.deployBranch}`))
    : undefined;
  if (!line)
    throw invalid(`${app.name} has nothing on ${app.deployBranch} to deploy yet`, `push it first: git push paas ${app.deployBranch}`);
  return line.split(' ')[0]!;
}

const finalNeverBuilds = (app: App) =>
  new SlipwayError('final_never_builds', `${app.name} is in final mode: it deploys release archives and never builds`, {
    status: 409,
    hint: `build on its staging app and promote, or upload an artifact (POST /api/v1/apps/${app.name}/artifacts)`,
  });
