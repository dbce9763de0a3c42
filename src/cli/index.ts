import { describe } from '../errors.js';
import { remoteTarget, type TransportFlags } from './target.js';

/** Commands of the client itself: they never go to a server's command program. */
const CLIENT_COMMANDS = new Set(['login', 'logout', 'whoami']);

/**
 * The `slipway` executable. `slipway server` runs the daemon; every other
 * command is the same program the daemon serves over SSH: run as the host's
 * admin through the control socket, or — after `slipway login` — as the
 * logged-in user through the remote server's API. `--local` first forces the
 * control socket on a host that has a login.
 *
 * Each path imports only what it needs, when it runs: the daemon and the
 * command program weigh about a second of start-up, and a command sent to a
 * running daemon needs neither.
 */
async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'server') {
    const { serverCommand } = await import('./server.js');
    await serverCommand().parseAsync(argv.slice(1), { from: 'user' });
    return -1; // keeps running until a signal
  }
  if (argv[0] === 'stack:build') {
    const { stackCommand } = await import('./stack.js');
    await stackCommand().parseAsync(argv.slice(1), { from: 'user' });
    return 0;
  }
  if (argv[0] === '--version' || argv[0] === '-V') {
    process.stdout.write('slipway 0.1.0\n');
    return 0;
  }
  if (CLIENT_COMMANDS.has(argv[0] ?? '')) {
    const [{ loginCommands }, { CommanderError }] = await Promise.all([import('./login.js'), import('commander')]);
    try {
      await loginCommands().parseAsync(argv, { from: 'user' });
      return 0;
    } catch (err) {
      if (err instanceof CommanderError) return err.exitCode;
      throw err;
    }
  }
  let local = false;
  const flags: TransportFlags = {};
  // Options of the client itself, before the command: where it goes and how it may get there.
  for (;;) {
    if (argv[0] === '--local') [local, argv] = [true, argv.slice(1)];
    else if (argv[0] === '--insecure') [flags.insecure, argv] = [true, argv.slice(1)];
    else if (argv[0] === '--ca') {
      if (!argv[1]) throw new Error('--ca needs a file: slipway --ca ca.pem COMMAND');
      [flags.ca, argv] = [argv[1], argv.slice(2)];
    } else break;
  }
  if (argv[0] === '--help' || argv[0] === '-h') argv = ['help'];
  const target = local ? undefined : remoteTarget(flags);
  if (target) {
    const { runRemote } = await import('./remote.js');
    return runRemote(target, argv);
  }
  const { runHostCommand } = await import('./client.js');
  return runHostCommand(argv);
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err) => {
    process.stderr.write(` !     ${describe(err)}\n`);
    process.exit(1);
  },
);
