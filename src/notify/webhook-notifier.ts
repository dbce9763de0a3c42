import crypto from 'node:crypto';
import { DEFAULT_EGRESS, type EgressSettings } from '../egress/index.js';
import type { Store } from '../store/index.js';
import type { CertFailedEvent, CertNotifier, DeployEvent, DeployNotifier } from './events.js';
import { post } from './post.js';
import { DEFAULT_RETRY, retryDelay, type RetryPolicy } from './retry.js';
import { sign } from './signature.js';

export interface WebhookNotifierOptions {
  store: Store;
  /** Attempts per delivery and the backoff between them; default 5 attempts, waits of 1 s doubling. */
  retry?: Partial<RetryPolicy>;
  /** One attempt's limit, connect to answer; default 10 s. */
  timeoutMs?: number;
  /** Bytes of a receiver's answer read at most; default 64 KiB. */
  maxResponseBytes?: number;
  /** What receivers may be reached (`--egress-allow`), connect and idle timeouts; default: no internal address. */
  egress?: EgressSettings;
  /** Operator messages. They name webhooks by id, never by URL (it may hold credentials) or secret. */
  log?: (msg: string) => void;
  /** Told of each attempt's outcome, by app (metrics). */
  onAttempt?: (app: string, outcome: 'delivered' | 'retried' | 'dropped') => void;
}

/**
 * Deploy events as signed webhook POSTs, GitHub-style. A deploy only writes a
 * delivery row per webhook and returns; the POSTs happen on timers, and every
 * attempt is recorded, so a slow, failing or absent receiver never touches the
 * deploy, and deliveries still due when the daemon stops resume when it starts.
 */
export class WebhookNotifier implements DeployNotifier, CertNotifier {
  private readonly store: Store;
  private readonly retry: RetryPolicy;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;
  private readonly egress: EgressSettings;
  private readonly log: (msg: string) => void;
  private readonly onAttempt?: WebhookNotifierOptions['onAttempt'];
  private readonly timers = new Map<number, NodeJS.Timeout>();
  private readonly inFlight = new Map<number, Promise<void>>();
  private readonly aborter = new AbortController();
  private started = false;

  constructor(opts: WebhookNotifierOptions) {
    this.store = opts.store;
    this.retry = { ...DEFAULT_RETRY, ...opts.retry };
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.maxResponseBytes = opts.maxResponseBytes ?? 64 * 1024;
    this.egress = opts.egress ?? DEFAULT_EGRESS;
    this.log = opts.log ?? (() => undefined);
    this.onAttempt = opts.onAttempt;
  }

  /** Sends what a previous run left due, then whatever deploys report. */
  start(): void {
    if (this.started || this.aborter.signal.aborted) return;
    this.started = true;
    const pending = this.store.webhooks.pending();
    if (pending.length) this.log(`resuming ${pending.length} pending deliver${pending.length === 1 ? 'y' : 'ies'}`);
    for (const d of pending) this.schedule(d.id, (d.nextAttemptAt ?? 0) - Date.now());
  }

  /** Cancels timers and requests in flight; what was due stays due for the next start. */
  async stop(): Promise<void> {
    this.aborter.abort();
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    await Promise.allSettled([...this.inFlight.values()]);
  }

  deployEnded(event: DeployEvent): void {
    this.emit(event);
  }

  certFailed(event: CertFailedEvent): void {
    this.emit(event);
  }

  private emit(event: DeployEvent | CertFailedEvent): void {
    const app = this.store.apps.byName(event.app);
    if (!app) return;
    const hooks = this.store.webhooks.subscribed(app.id, event.event);
    if (!hooks.length) return;
    // Serialised once: every attempt to every webhook sends, and signs, these exact bytes.
    const payload = JSON.stringify(event);
    for (const hook of hooks) {
      const d = this.store.webhooks.createDelivery({
        uuid: crypto.randomUUID(),
        webhookId: hook.id,
        jobId: event.job_id,
        event: event.event,
        payload,
      });
      this.schedule(d.id, 0);
    }
  }

  /** True while a delivery waits for its timer or its answer (for tests and shutdown). */
  get busy(): boolean {
    return this.timers.size + this.inFlight.size > 0;
  }

  private schedule(id: number, delayMs: number): void {
    if (!this.started || this.aborter.signal.aborted || this.timers.has(id) || this.inFlight.has(id)) return;
    const timer = setTimeout(
      () => {
        this.timers.delete(id);
        const run = this.attempt(id).then(
          (retryIn) => {
            this.inFlight.delete(id);
            if (retryIn !== undefined) this.schedule(id, retryIn);
          },
          (err) => {
            this.inFlight.delete(id);
            this.log(`delivery ${id}: ${err instanceof Error ? err.message : String(err)}`);
          },
        );
        this.inFlight.set(id, run);
      },
      Math.max(0, delayMs),
    );
    timer.unref();
    this.timers.set(id, timer);
  }

  /** One attempt, recorded; resolves with the wait before the next one, if there is to be one. */
  private async attempt(id: number): Promise<number | undefined> {
    const { webhooks } = this.store;
    const d = webhooks.delivery(id);
    const hook = d && webhooks.get(d.webhookId);
    const secret = d && webhooks.secret(d.webhookId);
    // Removed with its webhook or app, or finished meanwhile: nothing to send.
    if (!d || !hook || secret === undefined || d.nextAttemptAt == null) return undefined;
    const result = await post({
      url: hook.url,
      body: d.payload,
      headers: {
        'Content-Type': 'application/json',
        'User-Agent': 'Slipway-Hookshot',
        'X-Slipway-Event': d.event,
        'X-Slipway-Delivery': d.uuid,
        'X-Slipway-Signature': sign(secret, d.payload),
      },
      timeoutMs: this.timeoutMs,
      maxResponseBytes: this.maxResponseBytes,
      egress: this.egress,
      setting: `webhook ${hook.id}`,
      signal: this.aborter.signal,
    });
    // Cut off by shutdown: not the receiver's failure, so not an attempt; the next start sends it.
    if (this.aborter.signal.aborted) return undefined;
    const attempt = d.attempts + 1;
    const delivered = result.error === undefined;
    const delay = delivered ? undefined : retryDelay(this.retry, attempt);
    webhooks.recordAttempt(id, {
      status: result.status ?? null,
      error: result.error ?? null,
      delivered,
      nextAttemptAt: delay === undefined ? null : Date.now() + delay,
    });
    this.onAttempt?.(hook.appName, delivered ? 'delivered' : delay === undefined ? 'dropped' : 'retried');
    if (delivered) return undefined;
    const what = `${d.event} delivery ${d.uuid} to webhook ${hook.id} of ${hook.appName}`;
    if (delay === undefined) this.log(`${what} failed after ${attempt} attempt${attempt === 1 ? '' : 's'}, giving up: ${result.error}`);
    else this.log(`${what}: attempt ${attempt} failed (${result.error}); retrying in ${delay / 1000}s`);
    return delay;
  }
}
