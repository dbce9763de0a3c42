import type { Command } from 'commander';
import { appFor } from '../auth/access.js';
import { SlipwayError, invalid } from '../errors.js';
import type { App } from '../store/index.js';
import { out, requirePlatform, type CommandContext } from './context.js';
import { followJob } from './releases.js';

export const CONFIG_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_VALUE = 32 * 1024;

function checkKey(key: string): string {
  if (!CONFIG_KEY.test(key) || key.length > 200) throw invalid(`"${key.slice(0, 60)}" is not a valid config var name`, 'names match ^[A-Za-z_][A-Za-z0-9_]*$, e.g. DATABASE_URL');
  return key;
}

function parsePairs(pairs: string[]): Record<string, string> {
  const changes: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw invalid(`"${pair.slice(0, 60)}" is not KEY=VALUE`, 'e.g. slipway config:set myapp GREETING=hello');
    const value = pair.slice(eq + 1);
    if (value.length > MAX_VALUE || value.includes('\0')) throw invalid(`the value of ${pair.slice(0, eq)} is longer than 32 KiB or contains a NUL byte`);
    changes[checkKey(pair.slice(0, eq))] = value;
  }
  return changes;
}

/**
 * A config change is a release, as on Heroku: the live release's archive with
 * the new config, activated with zero downtime. The stored config changes only
 * when that release went live; if it fails, nothing changed.
 */
async function applyConfig(ctx: CommandContext, app: App, changes: Record<string, string | undefined>, what: string): Promise<void> {
  const live = app.currentRelease == null ? undefined : ctx.store.releases.get(app.id, app.currentRelease);
  if (!live?.archivePath || !ctx.platform) {
    ctx.store.apps.updateConfig(app.id, changes);
    out(ctx, `-----> ${what}; ${app.name} has no live release archive, so it applies on the next deploy`);
    return;
  }
  out(ctx, `-----> ${what}; making a new release of ${app.name}`);
  const job = requirePlatform(ctx).queue.enqueue({
    app,
    userName: ctx.user.name,
    kind: 'config',
    mode: 'final',
    releaseKind: 'config',
    source: { kind: 'live' },
    configChanges: changes,
  });
  try {
    await followJob(ctx, job.id);
  } catch (err) {
    throw new SlipwayError('config_not_applied', `the new config did not go live, so ${app.name}'s config is unchanged`, { status: 500, hint: `see \`slipway jobs:log ${job.id}\``, cause: err });
  }
}

export function registerConfig(program: Command, ctx: CommandContext): void {
  program
    .command('config')
    .description("show an app's config vars")
    .argument('<app>')
    .option('--shell', 'print KEY=VALUE lines for a shell or an .env file')
    .action((name: string, o: { shell?: boolean }) => {
      const app = appFor(ctx.store, ctx.user, name);
      const config = ctx.store.apps.config(app.id);
      const keys = Object.keys(config);
      if (o.shell) return void keys.forEach((k) => out(ctx, `${k}=${JSON.stringify(config[k])}`));
      if (!keys.length) return void out(ctx, `${app.name} has no config vars. Set one with \`slipway config:set ${app.name} KEY=VALUE\`.`);
      const width = Math.max(...keys.map((k) => k.length)) + 1;
      out(ctx, `=== ${app.name} config vars`);
      for (const k of keys) out(ctx, `${(k + ':').padEnd(width)} ${config[k]}`);
    });

  program
    .command('config:get')
    .description('print one config var')
    .argument('<app>')
    .argument('<key>')
    .action((name: string, key: string) => {
      const app = appFor(ctx.store, ctx.user, name);
      const value = ctx.store.apps.config(app.id)[checkKey(key)];
      if (value === undefined) throw new SlipwayError('not_found', `${app.name} has no config var ${key}`, { status: 404 });
      out(ctx, value);
    });

  program
    .command('config:set')
    .description('set config vars; makes a new release and restarts without downtime')
    .argument('<app>')
    .argument('<key=value...>')
    .action(async (name: string, pairs: string[]) => {
      const app = appFor(ctx.store, ctx.user, name);
      const changes = parsePairs(pairs);
      await applyConfig(ctx, app, changes, `Setting ${Object.keys(changes).join(', ')}`);
    });

  program
    .command('config:unset')
    .description('remove config vars; makes a new release and restarts without downtime')
    .argument('<app>')
    .argument('<key...>')
    .action(async (name: string, keys: string[]) => {
      const app = appFor(ctx.store, ctx.user, name);
      const current = ctx.store.apps.config(app.id);
      const changes = Object.fromEntries(keys.map((k) => [checkKey(k), undefined]));
      const missing = keys.filter((k) => !(k in current));
      if (missing.length === keys.length) throw new SlipwayError('not_found', `${app.name} has no config var ${missing.join(', ')}`, { status: 404 });
      await applyConfig(ctx, app, changes, `Unsetting ${keys.join(', ')}`);
    });
}
