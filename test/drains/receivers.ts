import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';

/**
 * Log receivers on 127.0.0.1 for the drain tests: real sockets, parsing what
 * arrives the way a syslog server or a logplex endpoint would.
 */

/** Splits RFC 6587 octet-counted frames off `buf` (counts in bytes); what is left is an unfinished frame. */
export function parseOctetFrames(buf: Buffer): { messages: string[]; rest: Buffer } {
  const messages: string[] = [];
  let at = 0;
  for (;;) {
    const sp = buf.indexOf(0x20, at);
    if (sp === -1) break;
    const lenText = buf.subarray(at, sp).toString('latin1');
    if (!/^[1-9]\d{0,8}$/.test(lenText)) throw new Error(`not an octet count: ${JSON.stringify(lenText.slice(0, 20))}`);
    const end = sp + 1 + Number(lenText);
    if (end > buf.length) break;
    messages.push(buf.subarray(sp + 1, end).toString('utf8'));
    at = end;
  }
  return { messages, rest: buf.subarray(at) };
}

export interface SyslogReceiver {
  port: number;
  url: string;
  messages: string[];
  /** Framing errors seen (a count that is not one, a frame cut wrong): none is the test's expectation. */
  errors: string[];
  /** Connections open now. */
  open: number;
  close(): Promise<void>;
}

/** A TCP (or, given a certificate, TLS) syslog server. */
export async function syslogReceiver(cert?: { cert: string; key: string }): Promise<SyslogReceiver> {
  const sockets = new Set<net.Socket>();
  const r: SyslogReceiver = { port: 0, url: '', messages: [], errors: [], open: 0, close: async () => undefined };
  const onSocket = (socket: net.Socket) => {
    sockets.add(socket);
    r.open++;
    let pending = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      try {
        const { messages, rest } = parseOctetFrames(Buffer.concat([pending, d]));
        r.messages.push(...messages);
        pending = Buffer.from(rest);
      } catch (err) {
        r.errors.push((err as Error).message);
        socket.destroy();
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      sockets.delete(socket);
      r.open--;
    });
  };
  const server = cert ? tls.createServer({ cert: cert.cert, key: cert.key }, onSocket) : net.createServer(onSocket);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  r.port = (server.address() as net.AddressInfo).port;
  r.url = `${cert ? 'syslog+tls' : 'syslog'}://127.0.0.1:${r.port}`;
  r.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return r;
}

/** A TCP server that accepts and never reads: its receive buffer fills, then the sender's. */
export async function stuckReceiver(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.pause();
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface LogplexHit {
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  messages: string[];
  status: number;
}

export interface LogplexReceiver {
  port: number;
  url: string;
  hits: LogplexHit[];
  /** Status codes for the next requests, in order; 204 once it runs out. */
  answers: number[];
  /** Decides a request's status first, by its messages; undefined leaves it to `answers`. */
  decide?: (messages: string[]) => number | undefined;
  /** Framing errors seen: none is the test's expectation. */
  errors: string[];
  close(): Promise<void>;
}

/** An HTTP(S) endpoint taking `application/logplex-1` batches. */
export async function logplexReceiver(cert?: { cert: string; key: string }): Promise<LogplexReceiver> {
  const r: LogplexReceiver = { port: 0, url: '', hits: [], answers: [], errors: [], close: async () => undefined };
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      let messages: string[] = [];
      try {
        const parsed = parseOctetFrames(body);
        messages = parsed.messages;
        if (parsed.rest.length) r.errors.push(`a logplex body with ${parsed.rest.length} bytes after its last frame`);
      } catch (err) {
        r.errors.push((err as Error).message);
      }
      const status = r.decide?.(messages) ?? r.answers.shift() ?? 204;
      r.hits.push({ headers: req.headers, body, messages, status });
      res.writeHead(status).end();
    });
  };
  const server = cert ? https.createServer({ cert: cert.cert, key: cert.key }, handler) : http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  r.port = (server.address() as net.AddressInfo).port;
  r.url = `${cert ? 'https' : 'http'}://127.0.0.1:${r.port}/logs`;
  r.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return r;
}
