import type { Db } from './db.js';
import { now } from './db.js';

export interface Webhook {
  id: number;
  appId: number;
  appName: string;
  url: string;
  events: string[];
  createdAt: number;
}

export type DeliveryState = 'pending' | 'delivered' | 'failed';

export interface WebhookDelivery {
  id: number;
  /** Sent as `X-Slipway-Delivery`; the same on every attempt, so receivers can drop repeats. */
  uuid: string;
  webhookId: number;
  jobId: number | null;
  event: string;
  /** The exact body sent (and signed) on every attempt. */
  payload: string;
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  /** When the next attempt is due; null once delivered or given up. */
  nextAttemptAt: number | null;
  deliveredAt: number | null;
  createdAt: number;
  state: DeliveryState;
}

const toWebhook = (r: any): Webhook => ({
  id: r.id,
  appId: r.app_id,
  appName: r.app_name,
  url: r.url,
  events: r.events.split(',').filter(Boolean),
  createdAt: r.created_at,
});

const toDelivery = (r: any): WebhookDelivery => ({
  id: r.id,
  uuid: r.uuid,
  webhookId: r.webhook_id,
  jobId: r.job_id,
  event: r.event,
  payload: r.payload,
  attempts: r.attempts,
  lastStatus: r.last_status,
  lastError: r.last_error,
  nextAttemptAt: r.next_attempt_at,
  deliveredAt: r.delivered_at,
  createdAt: r.created_at,
  state: r.delivered_at != null ? 'delivered' : r.next_attempt_at != null ? 'pending' : 'failed',
});

const SELECT = 'SELECT w.id, w.app_id, w.url, w.events, w.created_at, a.name AS app_name FROM webhooks w JOIN apps a ON a.id = w.app_id';

/** Finished deliveries kept per webhook; older ones are pruned as new ones arrive. */
const KEEP_DELIVERIES = 100;

/**
 * Webhooks (an app's URLs told about deploys) and every delivery made to them.
 * The secret is stored because each attempt is signed with it, but no read
 * except `secret()` returns it, so listing a webhook can never print it.
 */
export class WebhookStore {
  constructor(private readonly db: Db) {}

  add(w: { appId: number; url: string; events: string[]; secret: string }): Webhook {
    const info = this.db
      .prepare('INSERT INTO webhooks (app_id, url, events, secret, created_at) VALUES (?, ?, ?, ?, ?)')
      .run(w.appId, w.url, w.events.join(','), w.secret, now());
    return this.get(Number(info.lastInsertRowid))!;
  }

  get(id: number): Webhook | undefined {
    const r = this.db.prepare(`${SELECT} WHERE w.id = ?`).get(id);
    return r ? toWebhook(r) : undefined;
  }

  forApp(appId: number): Webhook[] {
    return this.db.prepare(`${SELECT} WHERE w.app_id = ? ORDER BY w.id`).all(appId).map(toWebhook);
  }

  /** The app's webhooks that asked for `event`. */
  subscribed(appId: number, event: string): Webhook[] {
    return this.forApp(appId).filter((w) => w.events.includes(event));
  }

  /** False when the app has no webhook with that id. Its deliveries go with it. */
  remove(appId: number, id: number): boolean {
    return this.db.prepare('DELETE FROM webhooks WHERE id = ? AND app_id = ?').run(id, appId).changes === 1;
  }

  /** The signing key; only the deliverer reads it. */
  secret(id: number): string | undefined {
    return (this.db.prepare('SELECT secret FROM webhooks WHERE id = ?').get(id) as { secret: string } | undefined)?.secret;
  }

  /** A delivery due at once; prunes the webhook's oldest finished ones. */
  createDelivery(d: { uuid: string; webhookId: number; jobId: number | null; event: string; payload: string }): WebhookDelivery {
    return this.db.transaction(() => {
      const t = now();
      const info = this.db
        .prepare(
          `INSERT INTO webhook_deliveries (uuid, webhook_id, job_id, event, payload, attempts, next_attempt_at, created_at)
           VALUES (?, ?, ?, ?, ?, 0, ?, ?)`,
        )
        .run(d.uuid, d.webhookId, d.jobId, d.event, d.payload, t, t);
      this.db
        .prepare(
          `DELETE FROM webhook_deliveries WHERE webhook_id = ? AND next_attempt_at IS NULL AND id NOT IN
             (SELECT id FROM webhook_deliveries WHERE webhook_id = ? ORDER BY id DESC LIMIT ?)`,
        )
        .run(d.webhookId, d.webhookId, KEEP_DELIVERIES);
      return this.delivery(Number(info.lastInsertRowid))!;
    })();
  }

  delivery(id: number): WebhookDelivery | undefined {
    const r = this.db.prepare('SELECT * FROM webhook_deliveries WHERE id = ?').get(id);
    return r ? toDelivery(r) : undefined;
  }

  /** An app's deliveries, newest first; of one webhook when `webhookId` is given. */
  deliveries(appId: number, webhookId?: number, limit = 50): WebhookDelivery[] {
    return this.db
      .prepare(
        `SELECT d.* FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
         WHERE w.app_id = ? AND (? IS NULL OR d.webhook_id = ?) ORDER BY d.id DESC LIMIT ?`,
      )
      .all(appId, webhookId ?? null, webhookId ?? null, limit)
      .map(toDelivery);
  }

  /** The newest delivery of a webhook, for listings. */
  lastDelivery(webhookId: number): WebhookDelivery | undefined {
    const r = this.db.prepare('SELECT * FROM webhook_deliveries WHERE webhook_id = ? ORDER BY id DESC LIMIT 1').get(webhookId);
    return r ? toDelivery(r) : undefined;
  }

  /** Deliveries not yet delivered nor given up, soonest due first: resumed when the daemon starts. */
  pending(): WebhookDelivery[] {
    return this.db
      .prepare('SELECT * FROM webhook_deliveries WHERE next_attempt_at IS NOT NULL ORDER BY next_attempt_at, id')
      .all()
      .map(toDelivery);
  }

  /**
   * Records one attempt. `nextAttemptAt` null with no `delivered` means the
   * deliverer gave up: the delivery stays as failed.
   */
  recordAttempt(
    id: number,
    a: { status: number | null; error: string | null; delivered: boolean; nextAttemptAt: number | null },
  ): WebhookDelivery | undefined {
    this.db
      .prepare(
        `UPDATE webhook_deliveries SET attempts = attempts + 1, last_status = ?, last_error = ?,
           next_attempt_at = ?, delivered_at = ? WHERE id = ?`,
      )
      .run(a.status, a.error, a.delivered ? null : a.nextAttemptAt, a.delivered ? now() : null, id);
    return this.delivery(id);
  }
}
