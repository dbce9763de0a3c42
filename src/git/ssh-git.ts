// Not execa: git-receive-pack/upload-pack run as long as the push, their stdio piped both ways through the SSH channel.
import { spawn } from 'node:child_process';
import type { LiveSession } from '../auth/sessions.js';
import { describe, SlipwayError } from '../errors.js';
import type { User } from '../store/index.js';
import type { GitGateway } from './gateway.js';
import { exitStatus, gitEnv } from './git-env.js';
import type { ChannelIO } from './ssh-channel.js';

export interface GitServiceOptions {
  gateway: GitGateway;
  user: User;
  io: ChannelIO;
  service: 'receive-pack' | 'upload-pack';
  /** The repository argument exactly as the client sent it (`/myapp.git`, `myapp`). */
  repo: string;
  /** Value of the client's GIT_PROTOCOL env request, already checked (enables protocol v2). */
  gitProtocol?: string;
  log: (msg: string) => void;
  source?: string;
  /** The channel's live session: tied to the app once authorized. */
  session?: LiveSession;
  /** Aborted when the session's access is revoked: git stops, push or fetch. */
  signal?: AbortSignal;
}

/**
 * Serves one `git-receive-pack`/`git-upload-pack` over an SSH channel: the
 * gateway authorizes, then the real git program talks to the client through
 * the channel. Resolves with git's exit status; never rejects.
 *
 * Output is piped chunk by chunk, so hook output (sideband) reaches the
 * client while the hook still runs.
 */
export async function runGitService(opts: GitServiceOptions): Promise<number> {
  const { gateway, user, io, service, log } = opts;
  let target: { app: string; repoPath: string };
  let push: { env: Record<string, string>; close(): void } | undefined;
  try {
    target = gateway.authorizeRepo(user, opts.repo, service === 'receive-pack' ? 'push' : 'fetch', opts.source);
    opts.session?.useApp(target.app);
    if (opts.signal?.aborted) return 1;
    if (service === 'receive-pack') push = await gateway.openPush(user, target.app, opts.source);
    // Revoked while the push's pipes were made: its abort listener below would never hear of it.
    if (opts.signal?.aborted) {
      push?.close();
      return 1;
    }
  } catch (err) {
    if (!(err instanceof SlipwayError)) log(`ssh: ${service} ${opts.repo} for ${user.name}: ${describe(err)}`);
    io.errorLine(`slipway: ${err instanceof SlipwayError ? describe(err) : 'internal error (see the server log)'}`);
    return 1;
  }

  let revoked: (() => void) | undefined;
  try {
    const child = spawn('git', [service, target.repoPath], {
      env: gitEnv({ ...push?.env, GIT_PROTOCOL: opts.gitProtocol }),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    // receive-pack exits early on bad input; its stdin then raises EPIPE.
    child.stdin.on('error', () => {});
    child.stdout.pipe(io.stdout, { end: false });
    child.stderr.pipe(io.stderr, { end: false });
    io.channel.pipe(child.stdin);

    // Revoked access ends a push too: a deploy its hooks already queued runs on in the daemon, but not for this client.
    revoked = () => {
      if (child.exitCode === null) child.kill('SIGTERM');
    };
    opts.signal?.addEventListener('abort', revoked, { once: true });

    void io.gone.then(() => {
      io.channel.unpipe(child.stdin);
      child.stdin.end();
      // A fetch nobody reads is wasted work. A push is left to finish: its
      // hooks may be mid-deploy and the push session must close cleanly.
      if (service === 'upload-pack' && child.exitCode === null) child.kill('SIGTERM');
    });

    const status = await new Promise<number>((resolve) => {
      child.once('error', (err) => {
        log(`ssh: cannot run git ${service}: ${err.message}`);
        resolve(1);
      });
      child.once('close', (code, signal) => resolve(exitStatus(code, signal)));
    });
    if (status !== 0) log(`ssh: git ${service} ${target.app} for ${user.name} exited ${status}`);
    return status;
  } finally {
    if (revoked) opts.signal?.removeEventListener('abort', revoked);
    try {
      push?.close();
    } catch (err) {
      log(`ssh: closing push session for ${target.app}: ${describe(err)}`);
    }
  }
}
