import type { DeployQueue } from '../pipeline/queue.js';
import type { Store } from '../store/index.js';
import type { ControlIO, ControlRequest } from './control.js';
import type { PushSession } from './gateway.js';

const ZERO = /^0+$/;

export interface PushHandlerOptions {
  store: Store;
  queue: DeployQueue;
  sessions: Map<string, PushSession>;
}

/**
 * What the git hooks ask of the daemon. pre-receive checks the push is still
 * one we opened; post-receive turns a push to the deploy branch into a deploy
 * job and relays its log to the pusher while it runs.
 */
export async function handleHook(opts: PushHandlerOptions, req: Extract<ControlRequest, { type: 'hook' }>, io: ControlIO): Promise<number> {
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
  if (req.hook === 'pre-receive') return 0;

  let code = 0;
  for (const u of req.refs ?? []) {
    if (u.ref !== deployRef) {
      say(`-----> Stored ${u.ref.replace(/^refs\/heads\//, '')}; only pushes to ${app.deployBranch} deploy ${app.name} (change it with \`slipway apps:set ${app.name} deploy_branch=BRANCH\`).`);
      continue;
    }
    if (ZERO.test(u.newrev)) {
      say(`-----> ${app.deployBranch} was deleted; nothing was deployed and the live release keeps serving.`);
      continue;
    }
    const job = opts.queue.enqueue({
      app,
      userName: session.user.name,
      kind: 'push',
      mode: app.mode,
      releaseKind: 'build',
      source: { kind: 'git', commit: u.newrev, ref: u.ref },
    });
    const done = await opts.queue.follow(job.id, (chunk) => io.stdout.write(chunk));
    if (done.status !== 'succeeded') code = 1;
  }
  return code;
}
