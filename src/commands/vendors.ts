import crypto from 'node:crypto';
import type { Command } from 'commander';
import { appFor } from '../auth/access.js';
import { settingsOf } from '../apps/settings.js';
import { SlipwayError } from '../errors.js';
import type { App } from '../store/index.js';
import { addVendorAccount } from '../vendors/accounts.js';
import { VENDOR_KINDS, checkVendor, checkVendorHost } from '../vendors/kinds.js';
import { HOOK_SECRET } from '../vendors/tokens.js';
import { secretBox } from './config.js';
import { out, type CommandContext } from './context.js';
import { ago, table } from './format.js';
import { readAll } from './users.js';

/** `vendors:add` and friends: the caller's own git provider accounts; `hooks:info`: where a provider sends pushes. */
export function registerVendors(program: Command, ctx: CommandContext): void {
  program
    .command('vendors:add')
    .description('add (or replace) your account at a git provider; the token is sealed and never shown again')
    .argument('<vendor>', VENDOR_KINDS.join(', '))
    .requiredOption('--token <token>', 'an access token that can read the repositories ("-": read it from stdin)')
    .option('--host <host>', 'a self-hosted server: a host name or an http(s) base URL (default: the public one)')
    .option('--username <name>', 'your user name there, for display', '')
    .action(async (raw: string, o: { token: string; host?: string; username: string }) => {
      const token = o.token === '-' ? await readAll(ctx.io.stdin, 'the token') : o.token;
      const a = addVendorAccount(ctx.store, secretBox(ctx), ctx.user.id, { vendor: raw, token, host: o.host, username: o.username });
      out(ctx, `-----> Stored your ${a.vendor} account at ${a.host}; the token is sealed and will not be shown again`);
    });

  program
    .command('vendors')
    .alias('vendors:list')
    .description('list your git provider accounts (never their tokens)')
    .action(() => {
      const rows = ctx.store.vendors.list(ctx.user.id).map((a) => [a.vendor, a.host, a.username || '-', ago(a.createdAt)]);
      out(
        ctx,
        rows.length
          ? table(['VENDOR', 'HOST', 'USER', 'ADDED'], rows)
          : 'No vendor accounts. Add one with `slipway vendors:add github --token TOKEN`.',
      );
    });

  program
    .command('vendors:remove')
    .description('remove your account at a git provider')
    .argument('<vendor>')
    .option('--host <host>', 'only the account at this host')
    .action((raw: string, o: { host?: string }) => {
      const vendor = checkVendor(raw);
      const n = ctx.store.vendors.remove(ctx.user.id, vendor, o.host ? checkVendorHost(o.host) : undefined);
      if (!n) throw new SlipwayError('not_found', `you have no ${vendor} account${o.host ? ` at ${o.host}` : ''}`, { status: 404 });
      out(ctx, `-----> Removed ${n} ${vendor} account${n === 1 ? '' : 's'}`);
    });

  program
    .command('hooks:info')
    .description("the push-webhook URLs and secret to paste into the provider's settings")
    .argument('<app>')
    .option('--rotate', 'make a new secret (the old one stops working)')
    .action((name: string, o: { rotate?: boolean }) => {
      const app = appFor(ctx.store, ctx.user, name, o.rotate ? 'manage' : 'use');
      const secret = hookSecret(ctx, app, o.rotate ?? false);
      const base = ctx.settings.apiUrl ?? `http://${ctx.settings.publicHost}:${ctx.settings.httpPort}`;
      out(ctx, `=== ${app.name} push webhooks (content type application/json, push events)`);
      for (const v of VENDOR_KINDS) out(ctx, `${(v + ':').padEnd(11)}${base}/api/v1/hooks/${app.name}/${v}`);
      out(ctx, `${'Secret:'.padEnd(11)}${secret}`);
      out(
        ctx,
        `${'Source:'.padEnd(11)}${settingsOf(app).get('source') ?? `none; set it with \`slipway apps:set ${app.name} source=github:OWNER/REPO#BRANCH\``}`,
      );
    });
}

/** The app's webhook secret, made (and sealed) on first use or when rotated. */
function hookSecret(ctx: CommandContext, app: App, rotate: boolean): string {
  const box = secretBox(ctx);
  const sealed = ctx.store.hooks.secret(app.id);
  if (sealed && !rotate) return box.open(app.name, HOOK_SECRET, sealed);
  const secret = crypto.randomBytes(24).toString('hex');
  ctx.store.hooks.setSecret(app.id, box.seal(app.name, HOOK_SECRET, secret));
  return secret;
}
