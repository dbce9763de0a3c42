import http from 'node:http';

/**
 * One request to a backend, written for the router's hot path: what
 * http-proxy-3's web passes did for the options the router uses (no
 * changeOrigin, no xfwd, the router relays the answer itself), without its
 * per-request events, option merging and URL joining. Websockets still go
 * through http-proxy-3.
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
 */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'te', 'upgrade'];

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

export interface ForwardTarget {
  host: string;
  port: number;
}

export interface ForwardCallbacks {
  /** The backend's answer (headers read, body to be piped). */
  response(proxyRes: http.IncomingMessage): void;
  /** The request could not be sent or the backend failed before answering; called at most once. */
  error(err: Error): void;
}

/**
 * Sends `req` (its headers as they are now) to `target` through `agent`, and
 * hands the answer or the failure to `cb`. The caller destroys the returned
 * request when its client goes away before the answer ended.
 */
export function forward(
  req: http.IncomingMessage,
  target: ForwardTarget,
  agent: http.Agent,
  timeoutMs: number | undefined,
  cb: ForwardCallbacks,
): http.ClientRequest {
  let headers = endToEnd(req.headers);
  if (req.httpVersionMajor > 1) {
    headers = { ...headers };
    if (typeof headers[':authority'] === 'string') headers.host = headers[':authority'];
    for (const name of HTTP2_ONLY) delete headers[name];
  }
  // A trailer announcement for a body the router re-frames would be a lie.
  if (headers.trailer !== undefined) delete headers.trailer;
  // Some backends wait for a body of a DELETE or OPTIONS that says nothing about its length.
  if ((req.method === 'DELETE' || req.method === 'OPTIONS') && !headers['content-length']) {
    headers['content-length'] = '0';
    delete headers['transfer-encoding'];
  }
  const proxyReq = http.request({ host: target.host, port: target.port, method: req.method, path: req.url, headers, agent });
  let failed = false;
  const fail = (err: Error) => {
    if (failed) return;
    failed = true;
    // The client hung up: there is nobody to answer, only the backend request to end.
    if (req.socket.destroyed && (err as NodeJS.ErrnoException).code === 'ECONNRESET') return void proxyReq.destroy();
    cb.error(err);
  };
  if (timeoutMs) proxyReq.setTimeout(timeoutMs, () => proxyReq.destroy());
  req.on('error', fail);
  proxyReq.on('error', fail);
  proxyReq.on('response', cb.response);
  req.pipe(proxyReq);
  return proxyReq;
}
