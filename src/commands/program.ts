import { Command, CommanderError } from 'commander';
import { describe } from '../errors.js';
import type { CommandContext } from './context.js';
import { registerApps } from './apps.js';
import { registerReleases } from './releases.js';
import { registerConfig } from './config.js';
import { registerDeploys } from './deploys.js';
import { registerDomains } from './domains.js';
import { registerLogs } from './logs.js';
import { registerProjects } from './projects.js';
import { registerPs } from './ps.js';
import { registerRun } from './run.js';
import { registerSettings } from './settings.js';
import { registerUsers } from './users.js';
import { registerWebhooks } from './webhooks.js';

/**
 * Every Slipway command, bound to one caller. The same program serves the
 * host CLI (through the daemon's control socket), `ssh slipway@host …` and,
 * later, the remote CLI — so a command behaves the same from every entrance.
 */
export function buildProgram(ctx: CommandContext): Command {
  const program = new Command('slipway')
    .description('Slipway: git push to deploy, on your own host')
    .exitOverride()
    // `run APP CMD -x`: options after the app belong to CMD (passThroughOptions needs this).
    .enablePositionalOptions()
    .configureOutput({ writeOut: (s) => ctx.io.stdout.write(s), writeErr: (s) => ctx.io.stderr.write(s) })
    .showHelpAfterError('(run `help` for the list of commands)')
    .helpCommand('help [command]', 'show help');
  registerApps(program, ctx);
  registerSettings(program, ctx);
  registerUsers(program, ctx);
  registerReleases(program, ctx);
  registerDeploys(program, ctx);
  registerConfig(program, ctx);
  registerPs(program, ctx);
  registerDomains(program, ctx);
  registerLogs(program, ctx);
  registerRun(program, ctx);
  registerWebhooks(program, ctx);
  registerProjects(program, ctx);
  for (const c of program.commands) c.exitOverride().configureOutput({ writeOut: (s) => ctx.io.stdout.write(s), writeErr: (s) => ctx.io.stderr.write(s) });
  return program;
}

/** Runs argv as `ctx.user`; errors become one `slipway: …` line and a non-zero exit code. */
export async function runCommand(ctx: CommandContext, argv: string[]): Promise<number> {
  const program = buildProgram(ctx);
  if (!argv.length) argv = ['help'];
  try {
    await program.parseAsync(argv, { from: 'user' });
    return ctx.exitCode ?? 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    ctx.io.stderr.write(` !     ${describe(err)}\n`);
    return 1;
  }
}
