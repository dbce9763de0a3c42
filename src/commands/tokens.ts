import type { Command } from 'commander';
import { issueToken } from '../auth/tokens.js';
import { notFound } from '../errors.js';
import { out, type CommandContext } from './context.js';
import { ago, table } from './format.js';
import { subject } from './users.js';

export function registerTokens(program: Command, ctx: CommandContext): void {
  program
    .command('tokens:create')
    .description('create an API token (printed once; use it as the password for git over HTTP)')
    .option('--user <name>', 'the user the token belongs to (admins only)')
    .option('--name <name>', 'a label, unique among your live tokens (default: cli, cli-2 …)')
    .action((o: { user?: string; name?: string }) => {
      const user = subject(ctx, o.user);
      const { token, row } = issueToken(ctx.store, user, { name: o.name, base: 'cli' });
      out(ctx, token);
      ctx.io.stderr.write(
        `-----> Created token "${row.name}" for ${user.name}; it is shown only this once (revoke it with \`slipway tokens:revoke ${row.name}\`)\n`,
      );
    });

  program
    .command('tokens')
    .alias('tokens:list')
    .description('list API tokens: name, when made, when last used, whether revoked')
    .option('--user <name>', 'whose tokens (admins only)')
    .action((o: { user?: string }) => {
      const user = subject(ctx, o.user);
      const rows = ctx.store.users
        .tokens(user.id)
        .map((t) => [
          t.id,
          t.name,
          ago(t.createdAt),
          t.lastUsedAt ? ago(t.lastUsedAt) : 'never',
          t.revokedAt ? `revoked ${ago(t.revokedAt)}` : 'live',
        ]);
      out(
        ctx,
        rows.length
          ? table(['ID', 'NAME', 'CREATED', 'LAST USED', 'STATE'], rows)
          : `${user.name} has no API tokens. Create one with \`slipway tokens:create --name NAME\`.`,
      );
    });

  program
    .command('tokens:revoke')
    .description('revoke an API token by name or id; it stops working at once')
    .argument('<token>', 'name or id from `slipway tokens`')
    .option('--user <name>', 'whose token (admins only)')
    .action((ref: string, o: { user?: string }) => {
      const user = subject(ctx, o.user);
      const live = ctx.store.users.tokens(user.id).filter((t) => t.revokedAt == null);
      const token = live.find((t) => t.name === ref) ?? live.find((t) => String(t.id) === ref);
      if (!token) throw notFound(`live token "${ref}" of ${user.name}`, 'list tokens with `slipway tokens`');
      ctx.store.users.revokeToken(token.id);
      out(ctx, `-----> Revoked token "${token.name}" of ${user.name}`);
    });
}
