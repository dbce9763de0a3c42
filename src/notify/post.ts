import http from 'node:http';
import https from 'node:https';

export interface PostOptions {
  url: string;
  body: string;
  headers: Record<string, string>;
  /** The whole exchange, connect to last byte read. */
  timeoutMs: number;
  /** Bytes of the answer read at most; the rest is never downloaded. */
  maxResponseBytes: number;
  signal?: AbortSignal;
}

export interface PostResult {
  /** The answer's status code; undefined when none came. */
  status?: number;
  /** Why the attempt failed, for the delivery record; undefined on a 2xx answer. */
  error?: string;
}

/**
 * One POST, never followed anywhere: a redirect is an answer like any other
 * (and a failure, not being 2xx), so a receiver cannot bounce the signed body
 * to another host. No keep-alive agent: deliveries are rare and independent.
 */
export function post(opts: PostOptions): Promise<PostResult> {
  let url: URL;
  try {
    url = new URL(opts.url);
  } catch {
    return Promise.resolve({ error: 'invalid URL' });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return Promise.resolve({ error: `${url.protocol} URLs are not supported` });
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: PostResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      req.destroy();
      resolve(r);
    };
    const client = url.protocol === 'https:' ? https : http;
    const req = client.request(url, {
      method: 'POST',
      agent: false,
      headers: { ...opts.headers, 'Content-Length': String(Buffer.byteLength(opts.body)) },
    });
    const timer = setTimeout(() => done({ error: `timed out after ${opts.timeoutMs / 1000}s` }), opts.timeoutMs);
    const onAbort = () => done({ error: 'cancelled: the Slipway server is stopping' });
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    req.on('error', (err: NodeJS.ErrnoException) => done({ error: err.code ? `${err.code}: ${err.message}` : err.message }));
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      let read = 0;
      const chunks: Buffer[] = [];
      const finish = () => {
        if (status >= 200 && status < 300) return done({ status });
        const location = status >= 300 && status < 400 && res.headers.location ? ` (redirect to ${res.headers.location} not followed)` : '';
        const text = Buffer.concat(chunks).toString('utf8').replace(/\s+/g, ' ').trim().slice(0, 200);
        done({ status, error: `HTTP ${status}${location}${text ? `: ${text}` : ''}` });
      };
      res.on('data', (d: Buffer) => {
        if (read < opts.maxResponseBytes) chunks.push(d.subarray(0, opts.maxResponseBytes - read));
        read += d.length;
        if (read >= opts.maxResponseBytes) finish();
      });
      res.on('end', finish);
      res.on('error', () => finish());
      res.on('close', finish);
    });
    if (opts.signal?.aborted) return onAbort();
    req.end(opts.body);
  });
}
