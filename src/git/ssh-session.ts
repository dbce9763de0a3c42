import type { ServerChannel, Session } from 'ssh2';
import { endedLine, type LiveSession, type Principal } from '../auth/sessions.js';
import { describe, SlipwayError } from '../errors.js';
import type { User } from '../store/index.js';
import type { CommandIO, GitGateway } from './gateway.js';
import { safeGitProtocol } from './git-env.js';
import { ChannelIO } from './ssh-channel.js';
import { parseSshCommand } from './ssh-command.js';
import { runGitService } from './ssh-git.js';

export const USAGE = 'Usage: ssh slipway@host COMMAND [ARGS]…  e.g. apps:list, help';

export interface SessionOptions {
  gateway: GitGateway;
  /** The user proven by public-key authentication. */
  user: User;
  /** Resolves when the SSH connection goes away. */
  connectionClosed: Promise<void>;
  log: (msg: string) => void;
  /** `ssh CLIENT_IP`, for the audit log. */
  source?: string;
  /** The user and the key the connection logged in with: each channel registers as a live session. */
  principal?: Principal;
}

/** How long a channel whose access was revoked waits for its command to stop before it is cut. */
const CUT_GRACE_MS = 2000;

/**
 * One SSH session: remembers pty and env requests, then runs exactly one
 * exec (git transport or Slipway command) or shell request. There is no
 * shell; a bare interactive login (`ssh slipway@host`) gets `help`.
 */
export function handleSession(session: Session, opts: SessionOptions): void {
  const terminal: Terminal = { listeners: [] };
  let gitProtocol: string | undefined;

  // With wantReply=false ssh2 passes no accept/reject functions, whatever
  // the typings say; hence the optional calls.
  session.on('pty', (accept, _reject, info) => {
    terminal.size = { cols: info.cols, rows: info.rows };
    accept?.();
  });
  session.on('window-change', (accept, _reject, info) => {
    if (terminal.size) terminal.size = { cols: info.cols, rows: info.rows };
    for (const listener of terminal.listeners) {
      try {
        listener(info.cols, info.rows);
      } catch (err) {
        opts.log(`ssh: resize listener failed: ${describe(err)}`);
      }
    }
    accept?.();
  });
  session.on('env', (accept, reject, info) => {
    // Only what git sends (SendEnv=GIT_PROTOCOL, for protocol v2); a client
    // must not steer the environment of the processes we start.
    const value = info.key === 'GIT_PROTOCOL' ? safeGitProtocol(info.val) : undefined;
    if (value === undefined) return reject?.();
    gitProtocol = value;
    accept?.();
  });

  const start = (channel: ServerChannel | undefined, run: (io: ChannelIO, live: Revocable) => Promise<number>) => {
    if (!channel) return;
    const io = new ChannelIO(channel, opts.connectionClosed, opts.log);
    const live = register(io, opts);
    run(io, live)
      .catch((err: unknown) => {
        opts.log(`ssh: session of ${opts.user.name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
        io.errorLine('slipway: internal error (see the server log)');
        return 1;
      })
      .then((code) => {
        live.session?.close();
        if (live.reason === undefined) return io.finish(code);
        // The command stopped because its access went: say why, last, and never exit 0.
        io.errorLine(endedLine(live.reason));
        return io.finish(code || 1);
      })
      .catch((err: unknown) => opts.log(`ssh: closing session failed: ${describe(err)}`));
  };

  const command = (argv: string[]) => (io: ChannelIO, live: Revocable) => runCommand({ ...opts, io, argv, terminal, live });

  session.once('exec', (accept, _reject, info) => {
    const channel = accept();
    start(channel, async (io, live) => {
      let parsed;
      try {
        parsed = parseSshCommand(info.command);
      } catch (err) {
        io.errorLine(`slipway: ${describe(err)}`);
        return 1;
      }
      switch (parsed.kind) {
        case 'empty':
          io.errorLine(USAGE);
          return 1;
        case 'refused':
          io.errorLine(`slipway: ${parsed.message}`);
          return 1;
        case 'git':
          return runGitService({
            ...opts,
            io,
            service: parsed.service,
            repo: parsed.repo,
            gitProtocol,
            session: live.session,
            signal: live.signal,
          });
        case 'slipway':
          return command(parsed.argv)(io, live);
      }
    });
  });

  session.once('shell', (accept) => {
    start(accept(), async (io, live) => {
      if (terminal.size) return command(['help'])(io, live);
      io.errorLine(USAGE);
      return 1;
    });
  });
}

/** A channel as a live session: ended from our side when its access goes. */
interface Revocable {
  session?: LiveSession;
  /** Aborted when the session is ended. */
  signal: AbortSignal;
  /** Why it was ended, once it was. */
  reason?: string;
}

function register(io: ChannelIO, opts: SessionOptions): Revocable {
  const ended = new AbortController();
  const live: Revocable = { signal: ended.signal };
  if (!opts.principal || !opts.gateway.openSession) return live;
  live.session = opts.gateway.openSession(opts.principal, (reason) => {
    live.reason = reason;
    ended.abort();
    // A command that does not stop in time (a one-off ignoring SIGTERM) loses its channel anyway.
    setTimeout(() => io.cut(endedLine(reason)), CUT_GRACE_MS).unref();
  });
  return live;
}

/** The client's pty, if it asked for one (`ssh -t`), and who wants its size. */
interface Terminal {
  size?: { cols: number; rows: number };
  listeners: Array<(cols: number, rows: number) => void>;
}

interface CommandOptions extends SessionOptions {
  io: ChannelIO;
  argv: string[];
  terminal: Terminal;
  live: Revocable;
}

/** Hands a Slipway command to the gateway; its errors become one stderr line. */
async function runCommand(opts: CommandOptions): Promise<number> {
  const { io } = opts;
  const gone = new AbortController();
  void io.gone.then(() => gone.abort());
  const commandIO: CommandIO = {
    session: opts.live.session,
    stdin: io.channel,
    stdout: io.stdout,
    stderr: io.stderr,
    tty: opts.terminal.size !== undefined,
    // CommandIO has no field for the initial size, so a new listener is told
    // the current size at once; later window-change requests follow.
    onResize: (listener) => {
      opts.terminal.listeners.push(listener);
      if (opts.terminal.size) listener(opts.terminal.size.cols, opts.terminal.size.rows);
    },
    signal: AbortSignal.any([gone.signal, opts.live.signal]),
  };
  try {
    return await opts.gateway.runCommand(opts.user, opts.argv, commandIO, opts.source);
  } catch (err) {
    if (err instanceof SlipwayError) {
      io.errorLine(`slipway: ${describe(err)}`);
    } else {
      opts.log(`ssh: ${opts.argv[0]} for ${opts.user.name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      io.errorLine('slipway: internal error (see the server log)');
    }
    return 1;
  }
}
