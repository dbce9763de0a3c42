import http2 from 'node:http2';
import type http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { SniTable } from './sni.js';

export interface TlsServerHandlers {
  sni: SniTable;
  /** HTTP/1.1 and HTTP/2 requests alike (the compatibility API gives both the same shape). */
  request: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  upgrade: (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void;
  connection: (socket: Socket) => void;
  /** Closes an HTTP/2 session or HTTP/1.1 connection with nothing in flight for this long. */
  idleTimeoutMs: number;
  /** An HTTP/1.1 connection waits this long for its next request, as on the plain port. */
  keepAliveTimeoutMs: number;
}

/**
 * The router's TLS port: HTTP/2 where the client offers it (ALPN), HTTP/1.1
 * otherwise (websockets included). The certificate is picked per handshake
 * from the SNI table; a name without one — or no name at all — fails the
 * handshake, since the server has no default certificate to fall back to.
 */
export function createTlsServer(h: TlsServerHandlers): http2.Http2SecureServer {
  const server = http2.createSecureServer({
    allowHTTP1: true,
    minVersion: 'TLSv1.2',
    SNICallback: (servername, cb) => {
      const hit = h.sni.lookup(servername);
      if (hit) cb(null, hit.context);
      else cb(new Error(`no certificate for ${servername}`), undefined);
    },
  });
  // Node leaves both unset on an HTTP/2 server (0: never), so idle sessions and kept-alive
  // HTTP/1.1 connections would pile up; headersTimeout/requestTimeout have allowHTTP1 defaults.
  server.setTimeout(h.idleTimeoutMs);
  (server as unknown as { keepAliveTimeout: number }).keepAliveTimeout = h.keepAliveTimeoutMs;
  // Requests in flight per HTTP/2 session or HTTP/1.1 socket: a long poll is not idle, and
  // the plain port lets it wait as long as the app takes. (Upgraded sockets leave the timeout.)
  const inFlight = new WeakMap<object, number>();
  server.on('timeout', (conn: http2.ServerHttp2Session | Socket) => {
    if (!inFlight.get(conn)) conn.destroy();
  });
  // http-proxy-3 speaks to HTTP/2 clients through the compatibility API (it drops connection headers for them).
  server.on('request', (req, res) => {
    const conn: object = req.stream?.session ?? req.socket;
    inFlight.set(conn, (inFlight.get(conn) ?? 0) + 1);
    res.once('close', () => inFlight.set(conn, (inFlight.get(conn) ?? 1) - 1));
    h.request(req as unknown as http.IncomingMessage, res as unknown as http.ServerResponse);
  });
  server.on('upgrade', h.upgrade);
  server.on('connection', h.connection);
  // A failed handshake (unknown name, a scanner) is the client's affair; the socket is already destroyed.
  server.on('tlsClientError', () => undefined);
  server.on('sessionError', () => undefined);
  return server;
}
