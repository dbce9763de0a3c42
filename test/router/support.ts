import { expect } from 'chai';
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Helpers shared by the router engine tests: a test backend and raw requests with any Host header. */

export interface Answer {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

/** A request with an explicit Host header (fetch refuses to set one), on a fresh connection. */
export function request(port: number, host: string, opts: { path?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: opts.path ?? '/', agent: false, headers: { host, ...opts.headers } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** What a test backend answers: its name and the headers it received. */
export interface Echo {
  name: string;
  headers: http.IncomingHttpHeaders;
}

export const echoOf = (res: Answer): Echo => JSON.parse(res.body) as Echo;

export interface TestBackend {
  name: string;
  server: http.Server;
  port: number;
  /** Resolves when a request to /slow has arrived; call the function to let it finish. */
  slowArrived: Promise<() => void>;
}

/**
 * A backend that answers with its name and the headers it received, echoes
 * websocket bytes, holds `/slow` until told, and answers `/sleep?ms=N` after N ms.
 */
export async function startBackend(name: string): Promise<TestBackend> {
  let arrived!: (release: () => void) => void;
  const slowArrived = new Promise<() => void>((r) => (arrived = r));
  const server = http.createServer((req, res) => {
    const answer = () => res.end(JSON.stringify({ name, headers: req.headers }));
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/slow') arrived(answer);
    else if (url.pathname === '/sleep') setTimeout(answer, Number(url.searchParams.get('ms') ?? 0));
    else answer();
  });
  // A minimal websocket handshake by hand; after it, echo raw bytes back.
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex) => {
    const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nX-Backend: ${name}\r\n\r\n`,
    );
    socket.on('data', (chunk: Buffer) => socket.write(Buffer.concat([Buffer.from(`${name}:`), chunk])));
    socket.on('end', () => socket.end());
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { name, server, port: (server.address() as net.AddressInfo).port, slowArrived };
}

export async function stopBackend(backend: TestBackend): Promise<void> {
  backend.server.closeAllConnections();
  await new Promise((r) => backend.server.close(r));
}

export const backendOf = (app: string, version: number, index: number, b: TestBackend) => ({
  id: `${app}.v${version}.web.${index}`,
  host: '127.0.0.1',
  port: b.port,
});

export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Opens a websocket through the router (handshake checked) and returns the raw socket. */
export function openWebsocket(port: number, host: string): Promise<Duplex> {
  return new Promise<Duplex>((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      agent: false,
      headers: {
        host,
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        'sec-websocket-version': '13',
      },
    });
    req.on('upgrade', (res: http.IncomingMessage, sock: Duplex) => {
      expect(res.statusCode).to.equal(101);
      expect(res.headers['sec-websocket-accept']).to.equal('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
      resolve(sock);
    });
    req.on('response', (res) => reject(new Error(`expected an upgrade, got HTTP ${res.statusCode}`)));
    req.on('error', reject);
    req.end();
  });
}

/** One round trip on an open websocket: what comes back for `text`. */
export function echoOver(socket: Duplex, text: string): Promise<string> {
  const echoed = new Promise<string>((r) => socket.once('data', (c: Buffer) => r(c.toString())));
  socket.write(text);
  return echoed;
}

/** A fresh state dir for one nginx engine. */
export function nginxStateDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-nginx-'));
}
