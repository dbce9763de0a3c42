import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { settingsOf } from '../apps/settings.js';
import { appFor } from '../auth/access.js';
import type { LiveSession, LiveSessions, Principal } from '../auth/sessions.js';
import { hashToken } from '../auth/tokens.js';
import { runCommand } from '../commands/program.js';
import type { Platform, ServerSettings } from '../commands/context.js';
import { SlipwayError } from '../errors.js';
import { HOOKS_DIR } from '../paths.js';
import type { AuthFailure, CommandIO, GitGateway } from '../git/gateway.js';
import type { Store, User } from '../store/index.js';
import type { ControlIO, ControlRequest } from './control.js';
import { openHookPipes, type HookPipes } from './hook-pipes.js';
import type { Layout } from '../store/layout.js';

export interface PushSession {
  id: string;
  user: User;
  app: string;
  openedAt: number;
  /** From where the push came, for the audit log. */
  source: string;
}

export interface GatewayOptions {
  store: Store;
  layout: Layout;
  settings: ServerSettings;
  platform: Platform;
  /** Open SSH connections and channels, ended when their access is revoked. */
  sessions: LiveSessions;
  /** What a push's post-receive asks of the daemon (push.ts's handleHook); without it every hook is the node client. */
  hook?: (req: HookRequest, io: ControlIO) => Promise<number>;
}

type HookRequest = Extract<ControlRequest, { type: 'hook' }>;

/**
 * The daemon's side of the receivers: identity, the permission check, push
 * sessions the hooks present back to us, and command dispatch.
 */
export class DaemonGateway implements GitGateway {
  readonly pushes = new Map<string, PushSession>();

  constructor(private readonly opts: GatewayOptions) {}

  userForKey(fingerprint: string): User | undefined {
    const key = this.opts.store.users.keyByFingerprint(fingerprint);
    return key ? this.opts.store.users.byId(key.userId) : undefined;
  }

  userForToken(token: string): User | undefined {
    if (!token || token.length > 200) return undefined;
    return this.opts.store.users.userByTokenHash(hashToken(token));
  }

  authorizeRepo(user: User, repo: string, access: 'push' | 'fetch', source = 'unknown'): { app: string; repoPath: string } {
    // Git sends `/myapp.git`, `myapp.git`, `myapp` or `~/myapp`; nothing else names an app.
    const name = repo
      .replace(/^\/+/, '')
      .replace(/^~\//, '')
      .replace(/\/+$/, '')
      .replace(/\.git$/, '');
    let app;
    try {
      app = appFor(this.opts.store, user, name);
    } catch (err) {
      // Allowed pushes are recorded by the hooks, with their outcome; refused ones only here.
      this.opts.store.audit.record({
        userName: user.name,
        action: access,
        appName: name.slice(0, 100),
        detail: {},
        source,
        outcome: 'denied',
      });
      throw err;
    }
    const repoPath = this.opts.layout.repo(app.name);
    if (!fs.existsSync(repoPath)) {
      throw new SlipwayError('repo_missing', `the repository of ${app.name} is missing on the server`, {
        status: 500,
        hint: 'ask an admin to recreate the app',
      });
    }
    return { app: app.name, repoPath };
  }

  async openPush(user: User, app: string, source = 'unknown'): Promise<{ env: Record<string, string>; close(): void }> {
    const id = crypto.randomBytes(16).toString('hex');
    const session: PushSession = { id, user, app, openedAt: Date.now(), source };
    this.pushes.set(id, session);
    const env: Record<string, string> = {
      SLIPWAY_CONTROL_SOCKET: this.opts.layout.controlSocket,
      SLIPWAY_PUSH_ID: id,
      SLIPWAY_APP: app,
      // Hooks are node scripts: make sure the node running us is first on their PATH.
      PATH: `${process.execPath.replace(/\/node$/, '')}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    };
    let pipes: HookPipes | undefined;
    try {
      if (this.opts.hook && this.deploysAfterRefsMove(app)) {
        const hooks = hooksPath(this.opts.layout.home);
        pipes = await openHookPipes(path.join(this.opts.layout.pushPipes, id), (refs, io) =>
          this.opts.hook!({ type: 'hook', hook: 'post-receive', pushId: id, refs }, io),
        );
        Object.assign(env, { SLIPWAY_PUSH_PIPES: pipes.dir, ...hooks });
      }
    } catch (err) {
      this.pushes.delete(id);
      throw err;
    }
    return {
      env,
      close: () => {
        this.pushes.delete(id);
        pipes?.close();
      },
    };
  }

  /**
   * pre-receive has work only for final apps and `push.atomic` pushes; for
   * any other app it answers 0, and each node hook is a node start (about
   * 0.1 s). Their pushes run with a hooks dir holding post-receive alone, a
   * shell script that talks to the daemon through FIFOs (hook-pipes.ts).
   */
  private deploysAfterRefsMove(name: string): boolean {
    const app = this.opts.store.apps.byName(name);
    return !!app && app.mode !== 'final' && !(settingsOf(app).get('push.atomic') && app.mode !== 'editable');
  }

  runCommand(user: User, argv: string[], io: CommandIO, source?: string): Promise<number> {
    const { store, layout, settings, platform } = this.opts;
    return runCommand({ store, layout, settings, user, io, local: false, platform, source }, argv);
  }

  openSession(principal: Principal, end: (reason: string) => void): LiveSession {
    return this.opts.sessions.open(principal, end);
  }

  authFailed(failure: AuthFailure): void {
    this.opts.store.audit.record({
      userName: failure.userName ?? null,
      action: 'login',
      appName: null,
      detail: { reason: failure.reason },
      source: failure.source,
      outcome: 'denied',
    });
  }
}

/** `core.hooksPath` for the push: a dir holding only the piped post-receive. */
function hooksPath(home: string): Record<string, string> {
  const dir = path.join(home, 'hooks-piped');
  const link = path.join(dir, 'post-receive');
  if (!fs.existsSync(link)) {
    fs.mkdirSync(dir, { recursive: true });
    fs.rmSync(link, { force: true });
    fs.symlinkSync(path.join(HOOKS_DIR, 'post-receive-piped'), link);
  }
  return { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'core.hooksPath', GIT_CONFIG_VALUE_0: dir };
}
