import type { Command } from 'commander';
import { appFor } from '../auth/access.js';
import { DEFAULT_EGRESS, checkFetchUrlAtSet } from '../egress/index.js';
import { invalid, notFound } from '../errors.js';
import { newSecret } from '../notify/signature.js';
import { checkSecret, checkWebhookUrl, displayUrl, parseEvents } from '../notify/url.js';
import type { App, WebhookDelivery } from '../store/index.js';
import { out, type CommandContext } from './context.js';
import { ago, table } from './format.js';

const STATE: Record<WebhookDelivery['state'], (d: WebhookDelivery) => string> = {
  delivered: () => 'delivered',
  failed: () => 'failed',
  pending: (d) => (d.attempts ? 'retrying' : 'pending'),
};

const releaseOf = (d: WebhookDelivery): string => {
  try {
    const v = JSON.parse(d.payload).release;
    return typeof v === 'number' ? `v${v}` : '';
  } catch {
    return '';
  }
};

function webhookOf(ctx: CommandContext, app: App, raw: string): number {
  const id = /^\d{1,12}$/.test(raw) ? Number(raw) : undefined;
  if (id === undefined || ctx.store.webhooks.get(id)?.appId !== app.id) {
    throw notFound(`webhook ${JSON.stringify(raw.slice(0, 20))} of ${app.name}`, `list them with \`slipway webhooks ${app.name}\``);
  }
  return id;
}

export function registerWebhooks(program: Command, ctx: CommandContext): void {
  program
    .command('webhooks')
    .description("list an app's webhooks and how their last delivery went")
    .argument('<app>')
    .action((name: string) => {
      const app = appFor(ctx.store, ctx.user, name);
      const hooks = ctx.store.webhooks.forApp(app.id);
      if (!hooks.length) return void out(ctx, `${app.name} has no webhooks. Add one with \`slipway webhooks:add ${app.name} URL\`.`);
      const rows = hooks.map((w) => {
        const last = ctx.store.webhooks.lastDelivery(w.id);
        const lastText = last
          ? `${STATE[last.state](last)}${last.lastStatus != null ? ` ${last.lastStatus}` : ''} ${ago(last.createdAt)}`
          : 'never';
        return [w.id, displayUrl(w.url), w.events.join(','), ago(w.createdAt), lastText];
      });
      out(ctx, table(['ID', 'URL', 'EVENTS', 'CREATED', 'LAST DELIVERY'], rows));
    });

  program
    .command('webhooks:add')
    .description('POST a signed JSON event to URL whenever a deploy of the app ends')
    .argument('<app>')
    .argument('<url>', 'http:// or https:// URL of the receiver')
    .option('--events <list>', 'comma-separated: deploy.succeeded, deploy.failed, cert.failed (default: the two deploy events)')
    .option('--secret <secret>', 'HMAC key for X-Slipway-Signature (default: a generated one, printed once)')
    .action((name: string, rawUrl: string, o: { events?: string; secret?: string }) => {
      const app = appFor(ctx.store, ctx.user, name);
      const url = checkWebhookUrl(rawUrl, invalid);
      // A literal internal address is refused now; a host name is checked at each delivery.
      checkFetchUrlAtSet(
        url,
        { setting: 'webhook URL', url },
        { admin: ctx.user.role === 'admin', settings: ctx.settings.egress ?? DEFAULT_EGRESS },
        { file: false },
      );
      const events = parseEvents(o.events, invalid);
      const secret = o.secret === undefined ? newSecret() : checkSecret(o.secret, invalid);
      const hook = ctx.store.webhooks.add({ appId: app.id, url, events, secret });
      out(ctx, `-----> Added webhook ${hook.id} to ${app.name}: POST ${displayUrl(url)} on ${events.join(', ')}`);
      if (o.secret === undefined) out(ctx, `       secret (shown once, keep it): ${secret}`);
      else out(ctx, '       signed with the secret you gave; it is not shown again');
      out(ctx, '       each request carries X-Slipway-Signature: sha256=<hex HMAC-SHA256 of the body with the secret>');
    });

  program
    .command('webhooks:remove')
    .description('stop sending events to a webhook, and forget its deliveries')
    .argument('<app>')
    .argument('<id>', 'the webhook id, from `slipway webhooks APP`')
    .action((name: string, rawId: string) => {
      const app = appFor(ctx.store, ctx.user, name);
      const id = webhookOf(ctx, app, rawId);
      ctx.store.webhooks.remove(app.id, id);
      out(ctx, `-----> Removed webhook ${id} from ${app.name}`);
    });

  program
    .command('webhooks:deliveries')
    .description("list an app's webhook deliveries, newest first: status, attempts, last error")
    .argument('<app>')
    .argument('[id]', 'only this webhook')
    .action((name: string, rawId?: string) => {
      const app = appFor(ctx.store, ctx.user, name);
      const id = rawId === undefined ? undefined : webhookOf(ctx, app, rawId);
      const rows = ctx.store.webhooks
        .deliveries(app.id, id)
        .map((d) => [
          d.id,
          d.webhookId,
          d.event,
          releaseOf(d),
          d.lastStatus ?? '',
          d.attempts,
          STATE[d.state](d),
          ago(d.deliveredAt ?? d.createdAt),
          d.uuid,
          (d.state === 'delivered' ? '' : (d.lastError ?? '')).slice(0, 100),
        ]);
      if (!rows.length) return void out(ctx, `No deliveries yet for ${id === undefined ? app.name : `webhook ${id} of ${app.name}`}.`);
      out(ctx, table(['ID', 'WEBHOOK', 'EVENT', 'RELEASE', 'STATUS', 'ATTEMPTS', 'STATE', 'WHEN', 'DELIVERY', 'LAST ERROR'], rows));
    });
}
