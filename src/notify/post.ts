import type { SecureContext } from 'node:tls';
import { egressRequest, type EgressSettings } from '../egress/index.js';
import { SlipwayError } from '../errors.js';

export interface PostOptions {
  url: string;
  body: string;
  headers: Record<string, string>;
  /** The whole exchange, connect to last byte read. */
  timeoutMs: number;
  /** Bytes of the answer read at most; the rest is never downloaded. */
  maxResponseBytes: number;
  /** Which addresses a receiver may have, and the connect and idle timeouts. */
  egress: EgressSettings;
  /** Names the receiver in refusals (`webhook 3`). */
  setting: string;
  signal?: AbortSignal;
  /** The CAs an https receiver's chain may end at; default Node's. */
  secureContext?: SecureContext;
  /** The URL as messages may show it, when the URL itself holds a token; default the URL. */
  shownUrl?: string;
}

export interface PostResult {
  /** The answer's status code; undefined when none came. */
  status?: number;
  /** Why the attempt failed, for the delivery record; undefined on a 2xx answer. */
  error?: string;
  /** From the start of the attempt to its end. */
  ms: number;
}

/**
 * One POST under the egress rules, never followed anywhere: a redirect is an
 * answer like any other (and a failure, not being 2xx), so a receiver cannot
 * bounce the signed body to another host. The answer's body is read (up to
 * a limit) and dropped: a delivery records status and timing, never what the
 * receiver said, so a webhook is no way to read an internal server's pages.
 */
export async function post(opts: PostOptions): Promise<PostResult> {
  const started = Date.now();
  const result = (r: Omit<PostResult, 'ms'>): PostResult => ({ ...r, ms: Date.now() - started });
  let url: URL;
  try {
    url = new URL(opts.url);
  } catch {
    return result({ error: 'invalid URL' });
  }
  const total = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, total]) : total;
  const target = { setting: opts.setting, url: opts.shownUrl ?? opts.url };
  try {
    const res = await egressRequest({
      url,
      target,
      settings: opts.egress,
      method: 'POST',
      headers: opts.headers,
      body: opts.body,
      signal,
      secureContext: opts.secureContext,
    });
    const status = res.statusCode ?? 0;
    await drain(res, opts.maxResponseBytes);
    if (status >= 200 && status < 300) return result({ status });
    // Where a redirect points is a header, not the body: it says what to fix in the URL.
    const location = String(res.headers.location ?? '')
      .replace(/[\x00-\x1f\x7f]/g, '')
      .slice(0, 200);
    const redirect = status >= 300 && status < 400 && location ? ` (redirect to ${location} not followed)` : '';
    return result({ status, error: `HTTP ${status}${redirect} after ${seconds(Date.now() - started)}` });
  } catch (err) {
    if (opts.signal?.aborted) return result({ error: 'cancelled: the Slipway server is stopping' });
    if (total.aborted) return result({ error: `timed out after ${opts.timeoutMs / 1000}s` });
    return result({ error: err instanceof SlipwayError ? err.message : (err as Error).message });
  }
}

/** Reads and drops the answer's body, at most `max` bytes. */
function drain(res: NodeJS.ReadableStream & { destroy(): void }, max: number): Promise<void> {
  return new Promise((resolve) => {
    let read = 0;
    const finish = () => {
      res.destroy();
      resolve();
    };
    res.on('data', (d: Buffer) => {
      read += d.length;
      if (read >= max) finish();
    });
    res.on('end', finish);
    res.on('error', finish);
    res.on('close', finish);
  });
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)}s`;
