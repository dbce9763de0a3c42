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
  // http-proxy-3 speaks to HTTP/2 clients through the compatibility API (it drops connection headers for them).
  server.on('request', (req, res) => h.request(req as unknown as http.IncomingMessage, res as unknown as http.ServerResponse));
  server.on('upgrade', h.upgrade);
  server.on('connection', h.connection);
  // A failed handshake (unknown name, a scanner) is the client's affair; the socket is already destroyed.
  server.on('tlsClientError', () => undefined);
  server.on('sessionError', () => undefined);
  return server;
}
