import { describeSource } from '../pipeline/source.js';
import { startDeploy, upstreamOf, upstreamReleaseFor, type DeployDeps } from '../pipeline/deploys.js';
import { writeInto } from '../pipeline/job-log.js';
import type { DeployQueue } from '../pipeline/queue.js';
import type { App, Release, Store } from '../store/index.js';
import type { ControlIO, ControlRequest, RefUpdate } from './control.js';
import type { PushSession } from './gateway.js';
import { settingsOf } from '../apps/settings.js';
import { describe } from '../errors.js';
import { deployPreview, removePreview } from '../pipeline/previews.js';

const ZERO = /^0+$/;
const QUARANTINE_VARS = ['GIT_QUARANTINE_PATH', 'GIT_OBJECT_DIRECTORY', 'GIT_ALTERNATE_OBJECT_DIRECTORIES'];

export interface PushHandlerOptions {
  store: Store;
  queue: DeployQueue;
  deps: DeployDeps;
  sessions: Map<string, PushSession>;
  /** Stops an app's processes and route: a deleted branch's preview app goes with everything it made. */
  stopApp?: (app: string) => Promise<void>;
  /** Names no preview may take: the server's own host names (auth/hosts.ts). */
  reservedName?: (name: string) => boolean;
}

type HookRequest = Extract<ControlRequest, { type: 'hook' }>;

/**
 * What the git hooks ask of the daemon. pre-receive refuses what can never
 * deploy (a final app's commit its staging app never built) and, for apps with
 * `push.atomic=true`, runs the whole deploy so that a failure rejects the push.
 * post-receive turns a push to the deploy branch into a deploy job and relays
 * its log to the pusher while it runs.
 */
export async function handleHook(opts: PushHandlerOptions, req: HookRequest, io: ControlIO): Promise<number> {
  const say = (line: string) => io.stdout.write(`${line}\n`);
  const session = opts.sessions.get(String(req.pushId));
  if (!session) {
    say(' !     This repository only accepts pushes through Slipway (ssh or http); the push session is unknown.');
    return 1;
  }
  const app = opts.store.apps.byName(session.app);
  if (!app) {
    say(` !     The app ${session.app} no longer exists.`);
    return 1;
  }
  const deployRef = `refs/heads/${app.deployBranch}`;
  const updates = (req.refs ?? []).filter((u) => u.ref === deployRef && !ZERO.test(u.newrev));
  // Editable apps fetch into their own work tree, which cannot read git's quarantine: they deploy after the refs move.
  const atomic = settingsOf(app).get('push.atomic') && app.mode !== 'editable';

  const audit = (code: number) => recordPush(opts, session, req.refs ?? [], code);
  if (req.hook === 'pre-receive') {
    for (const u of updates) {
      if (app.mode === 'final' && !finalSource(opts, app, u, say)) return audit(1);
    }
    if (!atomic) return 0;
    const gitEnv = Object.fromEntries(Object.entries(req.gitEnv ?? {}).filter(([k]) => QUARANTINE_VARS.includes(k)));
    const code = await deployAll(opts, app, session, updates, io, gitEnv);
    // A refused atomic push never reaches post-receive: its record is made here.
    return code === 0 ? 0 : audit(code);
  }

  const previews = settingsOf(app).get('previews') && !opts.store.previews.of(app.id);
  let code = 0;
  for (const u of req.refs ?? []) {
    const branch = /^refs\/heads\/(.+)$/.exec(u.ref)?.[1];
    if (u.ref !== deployRef && previews && branch) code |= await previewPush(opts, app, session, branch, !ZERO.test(u.newrev), io);
    else if (u.ref !== deployRef)
      say(
        `-----> Stored ${u.ref.replace(/^refs\/heads\//, '')}; only pushes to ${app.deployBranch} deploy ${app.name} (change it with \`slipway apps:set ${app.name} deploy_branch=BRANCH\`).`,
      );
    else if (ZERO.test(u.newrev)) say(`-----> ${app.deployBranch} was deleted; nothing was deployed and the live release keeps serving.`);
  }
  if (atomic) return audit(code); // it deployed in pre-receive, before the refs moved
  return audit((await deployAll(opts, app, session, updates, io)) | code);
}

/** A push (or deletion) of another branch of an app with previews on: its preview app is made, updated or removed. */
async function previewPush(
  opts: PushHandlerOptions,
  parent: App,
  session: PushSession,
  branch: string,
  pushed: boolean,
  io: ControlIO,
): Promise<number> {
  const say = (line: string) => io.stdout.write(`${line}\n`);
  const d = { ...opts.deps, stopApp: opts.stopApp, reservedName: opts.reservedName };
  try {
    if (!pushed) {
      const name = await removePreview(d, parent, branch);
      say(name ? `-----> ${branch} was deleted: removed the preview app ${name}` : `-----> ${branch} was deleted; it had no preview app`);
      return 0;
    }
    const { app, job, created } = await deployPreview(d, parent, branch, session.user.name);
    say(`-----> ${created ? 'Created' : 'Updating'} the preview app ${app.name} for ${branch}`);
    const done = await opts.queue.follow(job.id, writeInto(io.stdout), io.signal);
    return done.status === 'succeeded' ? 0 : 1;
  } catch (err) {
    say(` !     ${describe(err)}`);
    return 1;
  }
}

/** One audit entry per push: the refs it moved (or tried to) and whether it deployed. Returns `code`. */
function recordPush(opts: PushHandlerOptions, session: PushSession, refs: RefUpdate[], code: number): number {
  const detail = { refs: refs.slice(0, 20).map((u) => ({ ref: u.ref, from: u.oldrev.slice(0, 12), to: u.newrev.slice(0, 12) })) };
  opts.store.audit.record({
    userName: session.user.name,
    action: 'push',
    appName: session.app,
    detail,
    source: session.source,
    outcome: code === 0 ? 'ok' : 'failed',
  });
  return code;
}

/** Enqueues a deploy per updated deploy ref and relays each log; 1 when any failed. */
async function deployAll(
  opts: PushHandlerOptions,
  app: App,
  session: PushSession,
  updates: RefUpdate[],
  io: ControlIO,
  gitEnv?: Record<string, string>,
): Promise<number> {
  let code = 0;
  for (const u of updates) {
    const upstream = app.mode === 'final' ? finalSource(opts, app, u, () => undefined) : undefined;
    if (app.mode === 'final' && !upstream) return 1;
    const job = startDeploy(opts.deps, { kind: 'push', app, userName: session.user.name, commit: u.newrev, ref: u.ref, gitEnv, upstream });
    const done = await opts.queue.follow(job.id, writeInto(io.stdout), io.signal);
    if (done.status !== 'succeeded') code = 1;
  }
  return code;
}

/**
 * A final app never builds: a push of commit X deploys the archive its
 * upstream (staging) app built from X. Without one the push is refused,
 * naming the app to build it on.
 */
function finalSource(
  opts: PushHandlerOptions,
  app: App,
  u: RefUpdate,
  say: (l: string) => void,
): { app: App; release: Release } | undefined {
  const short = u.newrev.slice(0, 7);
  const upstream = upstreamOf(opts.deps, app);
  if (!upstream) {
    say(
      ` !     ${app.name} is in final mode: it deploys release archives and never builds, and it has no upstream app to take ${short} from.`,
    );
    say(` !     Link its staging app with \`slipway apps:set ${app.name} upstream=STAGING_APP\`, or promote a release to it.`);
    return undefined;
  }
  const found = upstreamReleaseFor(opts.deps, app, u.newrev);
  if (!found) {
    say(` !     ${app.name} is in final mode and never builds: ${upstream.name} has no successful build of ${short}.`);
    say(
      ` !     Push ${short} to ${upstream.name} first (git push <${upstream.name} remote> ${short}:${upstream.deployBranch}), then push here again.`,
    );
    return undefined;
  }
  say(
    `-----> ${short} was built by ${upstream.name} as v${found.release.version}: deploying ${describeSource({ kind: 'archive', archive: found.release.archivePath!, fromApp: upstream.name, fromVersion: found.release.version })}`,
  );
  return { app: upstream, release: found.release };
}
