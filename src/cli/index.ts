import { runHostCommand } from './client.js';
import { serverCommand } from './server.js';
import { stackCommand } from './stack.js';

/**
 * The `slipway` executable. `slipway server` runs the daemon; every other
 * command is the same program the daemon serves over SSH, run as the host's admin.
 */
async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'server') {
    await serverCommand().parseAsync(argv.slice(1), { from: 'user' });
    return -1; // keeps running until a signal
  }
  if (argv[0] === 'stack:build') {
    await stackCommand().parseAsync(argv.slice(1), { from: 'user' });
    return 0;
  }
  if (argv[0] === '--version' || argv[0] === '-V') {
    process.stdout.write('slipway 0.1.0\n');
    return 0;
  }
  if (argv[0] === '--help' || argv[0] === '-h') argv = ['help'];
  return runHostCommand(argv);
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err) => {
    process.stderr.write(` !     ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
