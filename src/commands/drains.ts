import type { Command } from 'commander';
import { appFor } from '../auth/access.js';
import { addDrain, listDrains, removeDrain, type DrainDeps } from '../drains/admin.js';
import { DEFAULT_EGRESS } from '../egress/index.js';
import { SecretBox } from '../secrets/box.js';
import { out, type CommandContext } from './context.js';
import { ago, table } from './format.js';

export function drainDeps(ctx: CommandContext): DrainDeps {
  const services = ctx.platform?.services;
  return {
    store: ctx.store,
    secrets: services?.secrets ?? SecretBox.forHome(ctx.layout.home),
    egress: ctx.settings.egress ?? DEFAULT_EGRESS,
    manager: services?.drains,
  };
}

export function registerDrains(program: Command, ctx: CommandContext): void {
  program
    .command('drains')
    .description("list an app's log drains: lines delivered and dropped since the server started, and the last error")
    .argument('<app>')
    .action((name: string) => {
      const app = appFor(ctx.store, ctx.user, name);
      const drains = listDrains(drainDeps(ctx), app);
      if (!drains.length) return void out(ctx, `${app.name} has no log drains. Add one with \`slipway drains:add ${app.name} URL\`.`);
      const rows = drains.map((d) => [
        d.id,
        d.url,
        d.token,
        d.stats?.delivered ?? '-',
        d.stats?.dropped ?? '-',
        d.stats?.queued ?? '-',
        d.stats ? (d.stats.lastError ? `${d.stats.lastError.slice(0, 100)} (${ago(d.stats.lastErrorAt)})` : '') : 'not running',
        ago(d.createdAt),
      ]);
      out(ctx, table(['ID', 'URL', 'TOKEN', 'DELIVERED', 'DROPPED', 'QUEUED', 'LAST ERROR', 'CREATED'], rows));
    });

  program
    .command('drains:add')
    .description("send the app's log lines (processes, deploys) to URL: syslog+tls://HOST:PORT, syslog://HOST:PORT or https://…")
    .argument('<app>')
    .argument('<url>', 'syslog+tls://, syslog:// (TCP) or http(s):// (logplex batches) URL of the receiver')
    .action((name: string, url: string) => {
      const app = appFor(ctx.store, ctx.user, name);
      const drain = addDrain(drainDeps(ctx), app, url, ctx.user.role === 'admin');
      out(ctx, `-----> Added drain ${drain.id} to ${app.name}: ${drain.url}`);
      out(ctx, `       token ${drain.token} (sent as Logplex-Drain-Token to https receivers)`);
      if (!drain.stats) out(ctx, '       the server is not running: lines are shipped from its next start');
    });

  program
    .command('drains:remove')
    .description('stop sending log lines to a drain; lines still queued for it are dropped')
    .argument('<app>')
    .argument('<url>', 'the drain id or its URL, from `slipway drains APP`')
    .action((name: string, ref: string) => {
      const app = appFor(ctx.store, ctx.user, name);
      const drain = removeDrain(drainDeps(ctx), app, ref);
      out(ctx, `-----> Removed drain ${drain.id} (${drain.url}) from ${app.name}`);
    });
}
