import type { Command } from 'commander';
import { appFor } from '../auth/access.js';
import { SlipwayError, invalid } from '../errors.js';
import { checkKey, missingVars, sealChanges, type ConfigChange } from '../pipeline/config-changes.js';
import { startConfigRelease } from '../pipeline/deploys.js';
import { SecretBox } from '../secrets/box.js';
import { DEFAULT_EGRESS } from '../egress/index.js';
import { checkConfigChange } from '../pipeline/buildpack-egress.js';
import { MASK } from '../secrets/masker.js';
import { settingsOf, writeSetting } from '../apps/settings.js';
import { isSealed } from '../store/sealed.js';
import type { App } from '../store/index.js';
import { out, type CommandContext } from './context.js';
import { followJob } from './releases.js';

export { CONFIG_KEY } from '../pipeline/config-changes.js';

function parsePairs(pairs: string[]): Record<string, string> {
  const changes: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw invalid(`"${pair.slice(0, 60)}" is not KEY=VALUE`, 'e.g. slipway config:set myapp GREETING=hello');
    changes[checkKey(pair.slice(0, eq))] = pair.slice(eq + 1);
  }
  return changes;
}

/** The daemon's box; on the host without a daemon, the home's own key file. */
export function secretBox(ctx: CommandContext): SecretBox {
  return ctx.platform?.services.secrets ?? SecretBox.forHome(ctx.layout.home);
}

/**
 * The config as a listing shows it: secret values replaced by the mask unless
 * revealed. Anyone who may use the app may reveal (see ALLOWED in access.ts).
 */
function shown(ctx: CommandContext, app: App, reveal: boolean): Array<{ key: string; value: string; secret: boolean }> {
  const config = ctx.store.apps.config(app.id);
  return Object.entries(config).map(([key, v]) => {
    const secret = isSealed(v);
    return { key, secret, value: !secret ? v : reveal ? secretBox(ctx).open(app.name, key, v) : MASK };
  });
}

async function applyConfig(ctx: CommandContext, app: App, change: ConfigChange, what: string): Promise<void> {
  const changes = sealChanges({ box: secretBox(ctx), store: ctx.store, app, change });
  checkConfigChange(ctx.store, app, change, { admin: ctx.user.role === 'admin', settings: ctx.settings.egress ?? DEFAULT_EGRESS });
  const job = startConfigRelease({ store: ctx.store, queue: ctx.platform?.queue, app, userName: ctx.user.name, changes });
  // Stored, no release made: either there is nothing live to make one from, or (the host CLI with the daemon down) nobody to run it.
  if (!job && !ctx.platform?.queue && app.currentRelease != null)
    return void out(
      ctx,
      `-----> ${what}; the Slipway server is not running, so ${app.name} keeps its config until its next deploy (once the server runs: slipway deploy ${app.name})`,
    );
  if (!job) return void out(ctx, `-----> ${what}; ${app.name} has no live release archive, so it applies on the next deploy`);
  out(ctx, `-----> ${what}; making a new release of ${app.name}`);
  try {
    await followJob(ctx, job.id);
  } catch (err) {
    throw new SlipwayError('config_not_applied', `the new config did not go live, so ${app.name}'s config is unchanged`, {
      status: 500,
      hint: `see \`slipway jobs:log ${job.id}\``,
      cause: err,
    });
  }
}

export function registerConfig(program: Command, ctx: CommandContext): void {
  program
    .command('config')
    .description("show an app's config vars (secrets masked)")
    .argument('<app>')
    .option('--shell', 'print KEY=VALUE lines for a shell or an .env file')
    .option('--reveal', "show secrets' values too")
    .action((name: string, o: { shell?: boolean; reveal?: boolean }) => {
      const app = appFor(ctx.store, ctx.user, name);
      const vars = shown(ctx, app, !!o.reveal);
      if (o.shell) return void vars.forEach((v) => out(ctx, `${v.key}=${JSON.stringify(v.value)}`));
      if (!vars.length) return void out(ctx, `${app.name} has no config vars. Set one with \`slipway config:set ${app.name} KEY=VALUE\`.`);
      const width = Math.max(...vars.map((v) => v.key.length)) + 1;
      out(ctx, `=== ${app.name} config vars`);
      for (const v of vars) out(ctx, `${(v.key + ':').padEnd(width)} ${v.value}${v.secret ? ' (secret)' : ''}`);
    });

  program
    .command('config:get')
    .description('print one config var (a secret only with --reveal)')
    .argument('<app>')
    .argument('<key>')
    .option('--reveal', "print a secret's value")
    .action((name: string, key: string, o: { reveal?: boolean }) => {
      const app = appFor(ctx.store, ctx.user, name);
      const value = ctx.store.apps.config(app.id)[checkKey(key)];
      if (value === undefined) throw missingVars(app, [key]);
      if (!isSealed(value)) return void out(ctx, value);
      if (!o.reveal) return void out(ctx, MASK);
      out(ctx, secretBox(ctx).open(app.name, key, value));
    });

  program
    .command('config:set')
    .description('set config vars; makes a new release and restarts without downtime')
    .argument('<app>')
    .argument('<key=value...>')
    .option('--secret', 'keep these vars secret: encrypted at rest, masked in every listing and log')
    .option('--no-preview', 'preview apps (previews=true) do not copy these vars')
    .action(async (name: string, pairs: string[], o: { secret?: boolean; preview: boolean }) => {
      const app = appFor(ctx.store, ctx.user, name);
      const set = parsePairs(pairs);
      const keys = Object.keys(set);
      if (!o.preview) excludeFromPreviews(ctx, app, keys);
      await applyConfig(
        ctx,
        app,
        { set, unset: [], secret: o.secret ? keys : [] },
        `Setting ${keys.join(', ')}${o.secret ? ' (secret)' : ''}`,
      );
    });

  program
    .command('config:unset')
    .description('remove config vars; makes a new release and restarts without downtime')
    .argument('<app>')
    .argument('<key...>')
    .action(async (name: string, keys: string[]) => {
      const app = appFor(ctx.store, ctx.user, name);
      const current = ctx.store.apps.config(app.id);
      const missing = keys.filter((k) => !(checkKey(k) in current));
      if (missing.length === keys.length) throw missingVars(app, missing);
      await applyConfig(ctx, app, { set: {}, unset: keys, secret: [] }, `Unsetting ${keys.join(', ')}`);
    });
}

/** `config:set --no-preview`: the keys join the app's `previews.exclude`, so its previews never get them. */
function excludeFromPreviews(ctx: CommandContext, app: App, keys: string[]): void {
  const list = [...new Set([...settingsOf(app).get('previews.exclude'), ...keys])];
  writeSetting(ctx.store, app, 'previews.exclude', list.join(','));
}
