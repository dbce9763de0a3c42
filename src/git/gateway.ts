import type { Readable, Writable } from 'node:stream';
import type { LiveSession, Principal } from '../auth/sessions.js';
import type { User } from '../store/index.js';

/**
 * What the SSH and HTTP receivers need from the rest of Slipway. The daemon
 * implements it; the receivers know nothing about the store or the pipeline.
 */
export interface GitGateway {
  /** The user whose stored key has this OpenSSH SHA256 fingerprint (`SHA256:…`), if any. */
  userForKey(fingerprint: string): User | undefined;
  /** The user owning this live API token, if any. */
  userForToken(token: string): User | undefined;
  /**
   * Checks that `user` may push to (or fetch from) the app behind a repo path as
   * the client wrote it (`myapp.git`, `/myapp.git`, `myapp`). Throws a
   * SlipwayError with a one-line message when the app does not exist, the name
   * is invalid or access is denied.
   */
  authorizeRepo(user: User, repo: string, access: 'push' | 'fetch', source?: string): { app: string; repoPath: string };
  /**
   * Registers a push session and returns the environment to give
   * git-receive-pack so its hooks can find the daemon and this session.
   * Call `close` when git-receive-pack has exited.
   */
  openPush(user: User, app: string, source?: string): Promise<{ env: Record<string, string>; close(): void }>;
  /**
   * Runs a Slipway command (`apps:list`, `releases myapp` …) as `user`; argv is
   * already split — never joined into a shell line. Resolves with the exit code.
   */
  runCommand(user: User, argv: string[], io: CommandIO, source?: string): Promise<number>;
  /**
   * A credential was presented and refused (an unknown or revoked token, a
   * bad signature, a connection that offered only unknown keys), for the
   * audit log. `source` says from where: `ssh 10.0.0.5`, `http 10.0.0.5`.
   */
  authFailed?(failure: AuthFailure): void;
  /**
   * Registers a live SSH connection or channel; `end` is called once, with a
   * one-line reason, when its access is gone (the key or the user removed,
   * access to an app it works on taken away). Call `close` when it ends.
   */
  openSession?(principal: Principal, end: (reason: string) => void): LiveSession;
}

export interface AuthFailure {
  source: string;
  reason: string;
  /** The user the credential named, when one is known. */
  userName?: string;
}

export interface CommandIO {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
  /** True when the client asked for a terminal (ssh -t). */
  tty: boolean;
  /** Terminal size changes (ssh -t), when a tty was requested. */
  onResize?(listener: (cols: number, rows: number) => void): void;
  /**
   * Aborted when the client goes away (SSH channel or control socket closed).
   * Commands that run until interrupted (`logs -f`) stop on it; ordinary
   * writes to a vanished client are discarded by the entrances anyway.
   */
  signal?: AbortSignal;
  /**
   * The live session the command runs in, when the entrance registered one.
   * A command that works on an app for a while (`logs -f`, `run`, `enter`,
   * following a job) ties the session to that app, so that losing access to
   * the app ends it; the entrance then aborts `signal`.
   */
  session?: LiveSession;
}
