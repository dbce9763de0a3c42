import type { SecureContext } from 'node:tls';
import type { EgressSettings } from '../egress/index.js';
import { post } from '../notify/post.js';
import type { Batch, DrainSender, SendResult } from './sender.js';
import { octetFrame, rfc5424 } from './syslog.js';

export interface LogplexSenderOptions {
  app: string;
  url: string;
  /** Masked URL: what messages may show. */
  shown: string;
  /** The drain's public name, sent as `Logplex-Drain-Token: d.<token>`. */
  token: string;
  egress: EgressSettings;
  /** The CAs a receiver's chain may end at (system, Node's and the extra bundle), made once. */
  secureContext: SecureContext;
}

/** Longest a batch's POST may take, connect to answer. */
const POST_TIMEOUT_MS = 60_000;

/**
 * Heroku's HTTPS drain format: a POST per batch whose body is the batch's
 * RFC 5424 messages, octet-counted, with `Content-Type: application/logplex-1`
 * and the `Logplex-*` headers. 2xx is delivered; 429 and 5xx are tried again;
 * any other status (4xx) refuses the batch for good. Each POST goes through
 * the egress rules (resolved address checked, no redirects followed).
 */
export class LogplexSender implements DrainSender {
  constructor(private readonly opts: LogplexSenderOptions) {}

  async send(batch: Batch, signal: AbortSignal): Promise<SendResult> {
    const body = batch.records.map((r) => octetFrame(rfc5424(r, this.opts.app))).join('');
    const res = await post({
      url: this.opts.url,
      body,
      headers: {
        'Content-Type': 'application/logplex-1',
        'Logplex-Msg-Count': String(batch.records.length),
        'Logplex-Frame-Id': batch.id,
        'Logplex-Drain-Token': `d.${this.opts.token}`,
        'User-Agent': 'Slipway-Logplex/1',
      },
      timeoutMs: Math.min(POST_TIMEOUT_MS, this.opts.egress.totalTimeoutMs),
      maxResponseBytes: 64 * 1024,
      egress: this.opts.egress,
      setting: 'drain',
      signal,
      secureContext: this.opts.secureContext,
      shownUrl: this.opts.shown,
    });
    if (res.status !== undefined && res.status >= 200 && res.status < 300) return { ok: true };
    const error = res.error ?? `HTTP ${res.status}`;
    const refused = res.status !== undefined && res.status >= 300 && res.status < 500 && res.status !== 429;
    return { ok: false, retry: !refused, error };
  }

  close(): void {}
}
