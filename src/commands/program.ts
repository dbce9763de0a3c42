import { Command, CommanderError } from 'commander';
import { describe } from '../errors.js';
import type { CommandContext } from './context.js';
import { describeCommand, outcomeOf } from './audit-policy.js';
import { registerAccess } from './access.js';
import { registerAudit } from './audit.js';
import { registerCerts } from './certs.js';
import { registerTokens } from './tokens.js';
import { registerApps } from './apps.js';
import { registerReleases } from './releases.js';
import { registerConfig } from './config.js';
import { registerDeploys } from './deploys.js';
import { registerDomains } from './domains.js';
import { registerHosts } from './hosts.js';
import { registerRegistry } from './registry.js';
import { registerLogs } from './logs.js';
import { registerProjects } from './projects.js';
import { registerPs } from './ps.js';
import { registerResize } from './resize.js';
import { registerRun } from './run.js';
import { registerSettings } from './settings.js';
import { registerUsers } from './users.js';
import { registerWebhooks } from './webhooks.js';
import { registerVendors } from './vendors.js';
import { registerDrains } from './drains.js';

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
  registerResize(program, ctx);
  registerDomains(program, ctx);
  registerCerts(program, ctx);
  registerLogs(program, ctx);
  registerRun(program, ctx);
  registerWebhooks(program, ctx);
  registerDrains(program, ctx);
  registerProjects(program, ctx);
  registerTokens(program, ctx);
  registerAccess(program, ctx);
  registerAudit(program, ctx);
  registerHosts(program, ctx);
  registerRegistry(program, ctx);
  registerVendors(program, ctx);
  for (const c of program.commands)
    c.exitOverride().configureOutput({ writeOut: (s) => ctx.io.stdout.write(s), writeErr: (s) => ctx.io.stderr.write(s) });
  return program;
}

/**
 * Runs argv as `ctx.user`; errors become one `slipway: …` line and a non-zero
 * exit code. Every command that changes something is written to the audit
 * log here, with its outcome: one place, whichever entrance it came from.
 */
export async function runCommand(ctx: CommandContext, argv: string[]): Promise<number> {
  const program = buildProgram(ctx);
  if (!argv.length) argv = ['help'];
  let audit: ReturnType<typeof describeCommand>;
  program.hook('preAction', (_root, action) => void (audit = describeCommand(action)));
  const record = (outcome: 'ok' | 'failed' | 'denied') => {
    if (!audit) return;
    try {
      ctx.store.audit.record({ ...audit, userName: ctx.user.name, source: ctx.source ?? (ctx.local ? 'cli' : 'unknown'), outcome });
    } catch (err) {
      // The store may be closing under a long command; the command's own answer matters more.
      ctx.io.stderr.write(` !     could not write the audit log: ${describe(err)}\n`);
    }
  };
  try {
    await program.parseAsync(argv, { from: 'user' });
    record((ctx.exitCode ?? 0) === 0 ? 'ok' : 'failed');
    return ctx.exitCode ?? 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    record(outcomeOf(err));
    ctx.io.stderr.write(` !     ${describe(err)}\n`);
    return 1;
  }
}
