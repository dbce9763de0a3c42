import type http from 'node:http';
import { PassThrough } from 'node:stream';
import type { UpstreamTarget, Upstreams } from './upstreams.js';

/**
 * One request to a backend, written for the router's hot path: what
 * http-proxy-3's web passes did for the options the router uses (no
 * changeOrigin, no xfwd, the router relays the answer itself), on undici's
 * pooled client (upstreams.ts). Websockets still go through http-proxy-3.
 */

/** HTTP/2 pseudo-headers and connection headers have no place in an HTTP/1.1 request. */
const HTTP2_ONLY = [':method', ':path', ':scheme', ':authority', 'connection', 'keep-alive'];

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1) are about the client's connection to
 * the router, not the router's to the backend. Forwarded, a client's
 * `Connection: close` (any client without keep-alive: health checkers, the
 * harness, HTTP/1.0) made the backend close the pooled connection after
 * each answer: every such request paid a new connection and, for an app in
 * a guest, its ownership check (2.5 vs 13.5 ms a request here).
 * `Transfer-Encoding` and `Expect` are the client's framing and handshake with
 * the router (Node answers 100-continue itself); the pool frames the body anew.
 */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'te', 'upgrade', 'transfer-encoding', 'expect'];

/**
 * The headers without the hop-by-hop ones; the same object when there are
 * none. Headers a client's `Connection` names are kept: that would let a
 * client take the router's own X-Forwarded-For or X-Request-Id off.
 */
function endToEnd(headers: http.IncomingHttpHeaders): http.IncomingHttpHeaders {
  if (!HOP_BY_HOP.some((h) => headers[h] !== undefined)) return headers;
  const out = { ...headers };
  for (const h of HOP_BY_HOP) delete out[h];
  return out;
}

/** The head of a backend's answer. */
export interface Answer {
  statusCode: number;
  statusMessage: string;
  headers: http.IncomingHttpHeaders;
}

/** Where the answer's body goes (proxy-response.ts makes it). */
export interface BodySink {
  /** False: wait for `onDrain` before more. */
  data(chunk: Buffer): boolean;
  onDrain(resume: () => void): void;
  end(): void;
  /** The backend failed after its head: cut the client's answer short too. */
  fail(): void;
}

export interface ForwardCallbacks {
  /** The answer's head; a sink for its body, or undefined when the caller answered instead (the body is dropped). */
  response(answer: Answer): BodySink | undefined;
  /** The request could not be sent or the backend failed before answering; called at most once. */
  error(err: Error): void;
}

/** What the caller holds of a forwarded request: ended when its client goes away before the answer did. */
export interface Forwarded {
  abort(): void;
}

/**
 * Sends `req` (its headers as they are now) to `target` through its pool and
 * hands the answer or the failure to `cb`, the body streamed with the
 * client's back-pressure.
 */
export function forward(
  req: http.IncomingMessage,
  path: string,
  target: UpstreamTarget,
  upstreams: Upstreams,
  cb: ForwardCallbacks,
): Forwarded {
  let headers = endToEnd(req.headers);
  if (req.httpVersionMajor > 1) {
    headers = { ...headers };
    if (typeof headers[':authority'] === 'string') headers.host = headers[':authority'];
    for (const name of HTTP2_ONLY) delete headers[name];
  }
  // A trailer announcement for a body the router re-frames would be a lie.
  if (headers.trailer !== undefined) delete headers.trailer;
  // Held here: undici would take the socket off a request it was handed as a body.
  const clientSocket = req.socket;
  let abortFn: ((err?: Error) => void) | undefined;
  let aborted = false;
  let sink: BodySink | undefined;
  let done = false;
  const pool = upstreams.pool(target);
  const client = pool.acquire();
  // Back to the pool only when undici says the request is over (onComplete, onError).
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    pool.release(client);
  };
  /** Ends the request in undici: before it is on a connection there is no abort yet, so its client goes. */
  const cancel = (err: Error) => {
    // Over already: the client may be another request's by now.
    if (released) return;
    if (abortFn) abortFn(err);
    else pool.discard(client, err);
  };
  // Called by undici too, which must never see it throw (it would emit 'error' on the client).
  const fail = (err: Error) => {
    if (done) return;
    done = true;
    try {
      if (sink) return sink.fail();
      // The client hung up: there is nobody to answer.
      if (aborted || clientSocket.destroyed) return;
      cb.error(err);
    } catch {
      // No answer could be sent: the client is cut off (an HTTP/2 client's stream only).
      req.destroy();
    }
  };
  let body: PassThrough | null = null;
  if (hasBody(req)) {
    // Through a stream of our own: undici destroys the body it was given once sent, and
    // on a request that would take its socket away from everything after (the access line).
    body = new PassThrough();
    req.pipe(body);
  }
  req.on('error', (err) => {
    body?.destroy(err);
    cancel(err);
    fail(err);
  });
  /** The answer is whole: the client's ends too (cut off if that throws). */
  const endSink = () => {
    if (done) return;
    done = true;
    try {
      sink?.end();
    } catch {
      sink?.fail();
    }
  };
  let resume: () => void = () => undefined;
  client.dispatch(
    // undici's own reset stays: it closes the connection after a HEAD, or a GET with a body, whose
    // answer a backend could follow with bytes the next request (another client's) would take as its own.
    { method: req.method as 'GET', path, headers: headers as Record<string, string>, body },
    {
      onConnect(abort) {
        abortFn = abort;
        if (aborted) abort(new Error('the client went away'));
      },
      onHeaders(statusCode, raw, resumeFn, statusText) {
        // 1xx: informational, the final answer follows.
        if (statusCode < 200 || done) return true;
        resume = resumeFn;
        const headers = headersOf(raw);
        // No body, whatever length it names (RFC 9110 §6.4.1): answered now, not when the backend hangs up
        // (undici waits for the length it names); the connection goes, it may still hold those bytes.
        const bodiless = (statusCode === 204 || statusCode === 304) && namesABody(headers);
        sink = cb.response({ statusCode, statusMessage: reasonOf(statusText), headers });
        if (!sink) {
          done = true;
          abortFn?.(new Error('answered by the router'));
          return false;
        }
        if (bodiless) {
          endSink();
          abortFn?.(new Error('a bodiless answer, relayed'));
          return false;
        }
        return true;
      },
      onData(chunk) {
        if (!sink || done) return true;
        try {
          const more = sink.data(chunk);
          if (!more) sink.onDrain(resume);
          return more;
        } catch (err) {
          fail(err as Error);
          return true;
        }
      },
      onComplete() {
        release();
        endSink();
      },
      onError(err) {
        release();
        fail(err);
      },
    },
  );
  return {
    abort() {
      if (aborted) return;
      aborted = true;
      cancel(new Error('the client went away'));
    },
  };
}

/**
 * The path to ask the backend for: an origin-form target as it is; an
 * absolute-form one (`GET http://host/a`) as its path, since the route was
 * picked by the Host header; undefined for anything else (`OPTIONS *`).
 */
export function originForm(url: string | undefined): string | undefined {
  if (url?.startsWith('/')) return url;
  if (!url || !/^https?:\/\//i.test(url)) return undefined;
  try {
    const u = new URL(url);
    return `${u.pathname}${u.search}`;
  } catch {
    return undefined;
  }
}

/**
 * An answer's headers as node:http's client read them: names lower-cased,
 * values as latin1 (the bytes as sent), duplicates joined or dropped by
 * Node's rules — a second Content-Type or Location is dropped, which an
 * HTTP/2 client's answer could not carry anyway.
 */
export function headersOf(raw: Buffer[]): http.IncomingHttpHeaders {
  const out: Record<string, string | string[]> = Object.create(null);
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toString('latin1').toLowerCase();
    const value = raw[i + 1]!.toString('latin1');
    const had = out[name];
    if (name === 'set-cookie') out[name] = had === undefined ? [value] : [...(had as string[]), value];
    else if (had === undefined) out[name] = value;
    else if (SINGLE.has(name)) continue;
    else out[name] = `${had as string}${name === 'cookie' ? '; ' : ', '}${value}`;
  }
  return out as http.IncomingHttpHeaders;
}

/** Whether an answer's head announces a body (a Content-Length other than 0, or Transfer-Encoding). */
function namesABody(headers: http.IncomingHttpHeaders): boolean {
  const length = headers['content-length'];
  return headers['transfer-encoding'] !== undefined || (length !== undefined && length.trim() !== '0');
}

/** Headers node:http keeps the first of (lib/_http_incoming.js). */
const SINGLE = new Set([
  'content-type',
  'content-length',
  'user-agent',
  'referer',
  'host',
  'authorization',
  'proxy-authorization',
  'if-modified-since',
  'if-unmodified-since',
  'from',
  'location',
  'max-forwards',
  'retry-after',
  'etag',
  'last-modified',
  'server',
  'age',
  'expires',
]);

/**
 * The reason phrase as its bytes were sent (undici decodes it as UTF-8; Node's
 * server writes latin1), or none when it holds what no status line may.
 */
function reasonOf(text: string): string {
  const bytes = Buffer.from(text, 'utf8').toString('latin1');
  return /[^\t\x20-\x7e\x80-\xff]/.test(bytes) ? '' : bytes;
}

/**
 * Whether a request carries a body: HTTP/1 says so in its headers; an HTTP/2
 * request without one ended its stream with its headers.
 */
export function hasBody(req: http.IncomingMessage): boolean {
  if (req.httpVersionMajor > 1) return !(req as unknown as { stream?: { endAfterHeaders?: boolean } }).stream?.endAfterHeaders;
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}
