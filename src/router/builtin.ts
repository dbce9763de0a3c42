import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { randomUUID } from 'node:crypto';
import { createProxyServer, type ProxyServer } from 'http-proxy-3';
import type { AccessEntry, AcmeChallenge, AppCertificate, Backend, Route, RouterEngine } from './engine.js';
import { listenAll, WILDCARD_HOSTS, type ExtraListeners } from '../listen.js';
import { InFlight } from './in-flight.js';
import { RouteTable, normalizeHost } from './table.js';
import { SniTable } from './sni.js';
import { ChallengeTable } from './acme-challenges.js';
import { createTlsServer } from './tls-server.js';
import { relayResponse } from './proxy-response.js';
import { forward, hasBody, originForm, type Answer, type BodySink, type Forwarded } from './forward.js';
import { Upstreams } from './upstreams.js';
import { VerifyingAgent } from './verifying-agent.js';
import type { RequestRecorder } from '../metrics/platform-metrics.js';

export interface BuiltinRouterOptions {
  /** Operator-facing messages (proxy errors, drain timeouts); default: discarded. */
  log?: (msg: string) => void;
  /**
   * Keep `X-Forwarded-Proto`/`-Port` sent by the client. Only for a router
   * behind a TLS terminator you control: otherwise any client could claim https.
   */
  trustForwarded?: boolean;
  /** Give up on a backend that has not answered after this long (502). Default: no limit, for long polls. */
  proxyTimeoutMs?: number;
  /** TLS port: an HTTP/2 session or connection idle this long is closed. Default 120 s. */
  tlsIdleTimeoutMs?: number;
  /** How long a kept-alive HTTP/1.1 connection waits for its next request, on both ports. Default 5 s (Node's). */
  keepAliveTimeoutMs?: number;
  /** Told of every answered request of a routed app (metrics); default: nobody. */
  requests?: RequestRecorder;
}

/**
 * The zero-setup router engine: one Node HTTP server proxying by Host header
 * to the app's web instances, round robin, websockets included.
 */
export class BuiltinRouter implements RouterEngine {
  readonly name = 'builtin';
  serves?: (backendId: string) => boolean;
  owns?: (port: number, clientPort: number) => boolean | Promise<boolean>;
  onAccess?: (entry: AccessEntry) => void;
  accessWanted?: (app: string) => boolean;
  private readonly table = new RouteTable();
  private readonly inFlight = new InFlight();
  private readonly sockets = new Set<Socket | Duplex>();
  /** Pooled, verified connections to the backends (upstreams.ts). */
  private readonly upstreams: Upstreams;
  /** For upgraded connections (websockets): verified like the pool's, never kept. */
  private readonly oneShot: http.Agent;
  private readonly proxy: ProxyServer;
  private readonly server: http.Server;
  private readonly log: (msg: string) => void;
  /** The sockets on the other addresses (`listen` with several hosts). */
  private extra?: ExtraListeners;
  /** Which certificate each host gets on the TLS port. */
  private readonly sni: SniTable;
  private tlsServer?: http2.Http2SecureServer;
  private tlsExtra?: ExtraListeners;
  private readonly challenges = new ChallengeTable();
  /** Backends taken out of their route, by id, until drained: their idle pooled connections are closed then. */
  private readonly retired = new Map<string, { host: string; port: number }>();

  constructor(private readonly opts: BuiltinRouterOptions = {}) {
    this.log = opts.log ?? (() => undefined);
    this.sni = new SniTable(this.log);
    this.upstreams = new Upstreams({ owns: () => this.owns, timeoutMs: opts.proxyTimeoutMs, log: this.log });
    this.oneShot = new VerifyingAgent({ keepAlive: false }, this);
    // Websockets only: plain requests go through forward() (forward.ts).
    this.proxy = createProxyServer({ ws: true, proxyTimeout: opts.proxyTimeoutMs });
    // Every call passes its own error callback; this is the net for anything
    // emitted outside one, since an unhandled 'error' would kill the daemon.
    this.proxy.on('error', (err) => this.log(`router: proxy error: ${err.message}`));
    // Upgraded connections to backends: close() must end them too, not only the client side.
    this.proxy.on('open', (proxySocket) => this.track(proxySocket));
    this.server = http.createServer((req, res) => this.handleSafely(req, res));
    this.server.keepAliveTimeout = opts.keepAliveTimeoutMs ?? this.server.keepAliveTimeout;
    this.server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => this.handleUpgrade(req, socket, head));
    this.server.on('connection', (socket: Socket) => this.track(socket));
    this.server.on('clientError', (_err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
  }

  /** Listens on `port` at each of `hosts` (one socket each); rejects with one line naming what could not be bound. */
  async listen(port: number, hosts: string | string[] = WILDCARD_HOSTS): Promise<void> {
    const { extra } = await listenAll({
      what: 'the router',
      hosts: typeof hosts === 'string' ? [hosts] : hosts,
      port,
      listen: (options) =>
        new Promise((resolve, reject) => {
          this.server.once('error', reject);
          this.server.listen(options, () => {
            this.server.off('error', reject);
            resolve((this.server.address() as AddressInfo).port);
          });
        }),
      unlisten: () => new Promise((resolve) => this.server.close(() => resolve())),
      // Connections on the other addresses are this server's too: same handlers, same tracking.
      onConnection: (socket) => this.server.emit('connection', socket),
      serverOptions: { allowHalfOpen: true, noDelay: true },
    });
    this.extra = extra;
  }

  /** Terminates TLS on `port` at each of `hosts`, for every host whose app has a certificate (see setCertificates). */
  async listenTls(port: number, hosts: string | string[] = WILDCARD_HOSTS): Promise<void> {
    const server = createTlsServer({
      sni: this.sni,
      request: (req, res) => this.handleSafely(req, res),
      upgrade: (req, socket, head) => this.handleUpgrade(req, socket, head),
      connection: (socket) => this.track(socket),
      idleTimeoutMs: this.opts.tlsIdleTimeoutMs ?? 120_000,
      keepAliveTimeoutMs: this.server.keepAliveTimeout,
    });
    const { extra } = await listenAll({
      what: 'the router (TLS)',
      hosts: typeof hosts === 'string' ? [hosts] : hosts,
      port,
      listen: (options) =>
        new Promise((resolve, reject) => {
          server.once('error', reject);
          server.listen(options, () => {
            server.off('error', reject);
            resolve((server.address() as AddressInfo).port);
          });
        }),
      unlisten: () => new Promise((resolve) => server.close(() => resolve())),
      onConnection: (socket) => server.emit('connection', socket),
      serverOptions: { allowHalfOpen: true, noDelay: true },
    });
    this.tlsServer = server;
    this.tlsExtra = extra;
  }

  async setCertificates(certs: AppCertificate[]): Promise<void> {
    this.sni.setCertificates(certs);
    this.sni.rebuild(this.table.routes());
  }

  async setChallenges(challenges: AcmeChallenge[]): Promise<void> {
    this.challenges.set(challenges);
  }

  /** Where the TLS port listens; useful after `listenTls(0)`. */
  tlsAddress(): { host: string; port: number } | undefined {
    const addr = this.tlsServer?.address() as AddressInfo | null | undefined;
    return addr ? { host: addr.address, port: addr.port } : undefined;
  }

  /** Where the router listens; useful after `listen(0)`. */
  address(): { host: string; port: number } | undefined {
    const addr = this.server.address() as AddressInfo | null;
    return addr ? { host: addr.address, port: addr.port } : undefined;
  }

  async setRoute(route: Route): Promise<void> {
    this.retire(route.app, route.backends);
    this.table.set(route);
    this.sni.rebuild(this.table.routes());
  }

  async removeRoute(app: string): Promise<void> {
    this.retire(app, []);
    this.table.remove(app);
    this.sni.rebuild(this.table.routes());
  }

  private retire(app: string, kept: Route['backends']): void {
    const old = this.table.routes().find((r) => r.app === app);
    for (const b of old?.backends ?? []) {
      if (kept.some((k) => k.id === b.id)) continue;
      this.retired.set(b.id, { host: b.host, port: b.port });
      // Its pool ends once its requests in flight are over (no new one can reach it now): one pool per live backend.
      this.upstreams.retire(b);
    }
    for (const k of kept) this.retired.delete(k.id);
  }

  routes(): Route[] {
    return this.table.routes();
  }

  /**
   * Resolves once none of `backendIds` has an HTTP request in flight, or after
   * `timeoutMs` (logged): stopping the old instance then is the lesser evil.
   * Open websockets are not waited for; they end with their instance and clients
   * reconnect. Take the backends out of the route first.
   */
  async drain(backendIds: string[], timeoutMs: number): Promise<void> {
    const drained = await this.inFlight.drain(backendIds, timeoutMs);
    if (!drained) {
      const left = backendIds.map((id) => `${id}=${this.inFlight.count(id)}`).join(', ');
      this.log(`router: drain gave up after ${timeoutMs}ms with requests still in flight (${left})`);
    }
    // An app that stops gracefully waits for its open connections, idle ones too on
    // older runtimes (Node before 19, many servers' "graceful" modes): ours would hold
    // its stop until its keep-alive timeout, or the stop's grace, ran out.
    for (const id of backendIds) {
      const b = this.retired.get(id);
      if (!b) continue;
      this.retired.delete(id);
      this.upstreams.retire(b);
    }
  }

  /** Requests in flight to one backend (for `ps` and tests). */
  inFlightCount(backendId: string): number {
    return this.inFlight.count(backendId);
  }

  async close(): Promise<void> {
    const extra = [this.extra?.close(), this.tlsExtra?.close()];
    this.extra = this.tlsExtra = undefined;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const tls = this.tlsServer;
    const tlsClosed = new Promise<void>((resolve) => (tls?.listening ? tls.close(() => resolve()) : resolve()));
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    if (this.server.listening) await closed;
    await tlsClosed;
    await Promise.all(extra);
    await this.upstreams.destroy();
    this.inFlight.clear();
  }

  /** The daemon must never die on a request: whatever throws answers 502 (or drops that one connection). */
  private handleSafely(req: http.IncomingMessage, res: http.ServerResponse): void {
    try {
      this.handle(req, res);
    } catch (err) {
      this.log(`router: ${displayHost(req)}: ${describeError(err)}`);
      try {
        reply(res, 502, 'The router could not handle this request');
      } catch {
        res.destroy();
      }
    }
  }

  private relay(app: string, answer: Answer, req: http.IncomingMessage, res: http.ServerResponse): BodySink | undefined {
    try {
      const sink = relayResponse(req, res, answer);
      if (sink) {
        this.access(app, req, answer);
        return sink;
      }
      this.log(`router: ${app} answered with status ${answer.statusCode}; sent 502`);
      reply(res, 502, `${app} answered with status ${answer.statusCode}, which is not a valid HTTP status`);
    } catch (err) {
      this.log(`router: ${app}: could not relay the answer: ${describeError(err)}`);
      if (res.headersSent) res.destroy();
      else {
        // What was set of the answer's head may be what could not be sent.
        for (const name of res.getHeaderNames()) res.removeHeader(name);
        reply(res, 502, `${app} sent an answer the router could not relay`);
      }
    }
    return undefined;
  }

  /** Tells `onAccess` of a relayed answer; whatever it does, the request is done. */
  private access(app: string, req: http.IncomingMessage, answer: Answer): void {
    if (!this.onAccess || this.accessWanted?.(app) === false) return;
    const length = Number(answer.headers['content-length']);
    try {
      this.onAccess({
        app,
        method: req.method ?? '',
        path: req.url ?? '',
        host: normalizeHost(hostOf(req) ?? ''),
        fwd: req.socket.remoteAddress ?? '',
        status: answer.statusCode,
        bytes: Number.isSafeInteger(length) ? length : undefined,
        protocol: (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http',
      });
    } catch (err) {
      this.log(`router: access line for ${app}: ${describeError(err)}`);
    }
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    // Before the route, the app and any redirect: the CA asks before the host may even be routed.
    const keyAuthorization = this.challenges.answer(req.method, hostOf(req), req.url);
    if (keyAuthorization !== undefined) {
      res.writeHead(200, {
        'content-type': 'text/plain',
        'content-length': Buffer.byteLength(keyAuthorization),
        'cache-control': 'no-store',
      });
      return void res.end(req.method === 'HEAD' ? undefined : keyAuthorization);
    }
    const misdirected = misdirection(req);
    if (misdirected) return reply(res, 421, misdirected);
    const tlsHost = this.sni.lookup(normalizeHost(hostOf(req) ?? ''));
    if (tlsHost && !(req.socket as { encrypted?: boolean }).encrypted) {
      if (tlsHost.redirect && this.tlsAddress())
        return redirect(res, normalizeHost(hostOf(req) ?? ''), this.tlsAddress()!.port, req.url ?? '/');
    } else if (tlsHost?.hstsMaxAge) res.setHeader('strict-transport-security', `max-age=${tlsHost.hstsMaxAge}`);
    const hit = this.table.lookup(hostOf(req), this.serves);
    if (!hit) return reply(res, 404, `No app is served at ${displayHost(req)}`);
    const app = hit.app;
    const requests = this.opts.requests;
    const start = requests ? performance.now() : 0;
    const backend = hit.backend;
    let forwarded: Forwarded | undefined;
    let inFlight = false;
    // One listener for all the request's ends: 'close' fires once, whether the answer finished or the client went away.
    res.on('close', () => {
      if (forwarded && !res.writableFinished) forwarded.abort();
      if (inFlight) this.inFlight.end(backend!.id);
      // Counted once its answer is over (sent, or cut off: then as the status it had).
      requests?.request(app, req.method, res.statusCode, (performance.now() - start) / 1000);
    });
    if (!backend) return reply(res, 502, `${app} has no running web process`);
    // `OPTIONS *` and the like name no path of the app's: nothing to forward.
    const path = originForm(req.url);
    if (path === undefined) return reply(res, 400, 'The router forwards requests for a path (/...) or an http(s) URL');
    this.setForwardedHeaders(req, hit.headers);
    // Answered before its upload ended (a 401, a 413, a 502): the rest is not wanted. Left paused,
    // it would hold an HTTP/1 connection, or an HTTP/2 stream and so this request's 'close'.
    // Only for a request with a body: a listener on every GET was a cost of the router's hottest path.
    if (hasBody(req)) {
      const stream = (req as unknown as { stream?: http2.ServerHttp2Stream }).stream;
      // An HTTP/2 answer's 'finish' comes only with its stream's close: the stream's own end of writing is the moment.
      (stream ?? res).once('finish', () => {
        if (req.complete) return;
        req.unpipe();
        req.resume();
        // RFC 9113 §8.1: an answer before the request ended, then RST_STREAM with NO_ERROR.
        // HTTP/1: the answer said Connection: close (reply, relayResponse), and Node closes after it.
        if (stream && !stream.destroyed) stream.close(http2.constants.NGHTTP2_NO_ERROR);
      });
    }
    this.inFlight.begin(backend.id);
    inFlight = true;
    forwarded = forward(req, path, backend, this.upstreams, {
      response: (answer) => this.relay(app, answer, req, res),
      error: (err) => {
        this.log(`router: ${app} → ${backend.id}: ${describeError(err)}`);
        if (!res.headersSent) reply(res, 502, `${app} did not answer (${backend.id}: ${describeError(err)})`);
        else res.destroy();
        if (inFlight) this.inFlight.end(backend.id);
        inFlight = false;
      },
    });
  }

  private handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const misdirected = misdirection(req);
    if (misdirected) return rawReply(socket, 421, misdirected);
    // tls.redirect covers websockets too: a plain one would carry the app's traffic in clear.
    const tlsPort = this.tlsAddress()?.port;
    const host = normalizeHost(hostOf(req) ?? '');
    if (tlsPort !== undefined && !(req.socket as { encrypted?: boolean }).encrypted && this.sni.lookup(host)?.redirect) {
      return void socket.end(
        `HTTP/1.1 308 Permanent Redirect\r\nlocation: ${httpsUrl(host, tlsPort, req.url ?? '/')}\r\ncontent-length: 0\r\n` +
          'cache-control: no-store\r\nconnection: close\r\n\r\n',
      );
    }
    const hit = this.table.lookup(hostOf(req), this.serves);
    if (!hit) return rawReply(socket, 404, `No app is served at ${displayHost(req)}`);
    if (!hit.backend) return rawReply(socket, 502, `${hit.app} has no running web process`);
    const backend = hit.backend;
    this.setForwardedHeaders(req, hit.headers);
    // No pooled agent: an upgraded connection belongs to this client for good.
    this.proxy.ws(req, socket, head, { target: target(backend), agent: this.oneShot }, (err) => {
      this.log(`router: websocket ${hit.app} → ${backend.id}: ${describeError(err)}`);
      // Errors also arrive after the 101 went out; only an untouched socket can still get a 502.
      const untouched = socket.writable && (socket as Socket).bytesWritten === 0;
      if (untouched) rawReply(socket, 502, `${hit.app} did not answer`);
      else socket.destroy();
    });
  }

  /**
   * Heroku's headers: the client chain in X-Forwarded-For (appended to, since
   * the app decides how far to trust it), proto and port as we saw them, and a
   * request id the app can log (kept if the client sent a sane one). The
   * route's own headers go last, over anything the client sent.
   */
  private setForwardedHeaders(req: http.IncomingMessage, own: Record<string, string> = {}): void {
    const h = req.headers;
    const remote = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    const prior = h['x-forwarded-for'];
    h['x-forwarded-for'] = prior ? `${prior}, ${remote}` : remote;
    const encrypted = Boolean((req.socket as { encrypted?: boolean }).encrypted);
    if (!this.opts.trustForwarded || !h['x-forwarded-proto']) h['x-forwarded-proto'] = encrypted ? 'https' : 'http';
    if (!this.opts.trustForwarded || !h['x-forwarded-port']) h['x-forwarded-port'] = String(req.socket.localPort ?? '');
    const id = h['x-request-id'];
    if (typeof id !== 'string' || !/^[\w\-.:+=/]{1,200}$/.test(id)) h['x-request-id'] = randomUUID();
    for (const [name, value] of Object.entries(own)) h[name.toLowerCase()] = value;
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }
}

function target(backend: Backend) {
  return { host: backend.host, port: backend.port, protocol: 'http:' };
}

/** The requested host: HTTP/2 names it in `:authority`, HTTP/1.1 in Host. */
function hostOf(req: http.IncomingMessage): string | undefined {
  const authority = req.headers[':authority'];
  return typeof authority === 'string' ? authority : req.headers.host;
}

/** The host as we matched it (lowercase, no port), so the message names what was looked up. */
function displayHost(req: http.IncomingMessage): string {
  return normalizeHost(hostOf(req) ?? '') || '(no Host header)';
}

/**
 * On the TLS port a request must ask for the host its connection was made
 * for: the certificate was chosen for that name, and answering another
 * app's host on it would serve that app under someone else's certificate.
 * 421 is what HTTP/2 clients that reuse a connection expect, and retry on.
 */
function misdirection(req: http.IncomingMessage): string | undefined {
  const servername = (req.socket as { servername?: string | false }).servername;
  if (!(req.socket as { encrypted?: boolean }).encrypted || !servername) return undefined;
  const host = normalizeHost(hostOf(req) ?? '');
  return host === normalizeHost(servername)
    ? undefined
    : `This connection is for ${normalizeHost(servername)}, not ${host || '(no Host header)'}`;
}

function describeError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e?.code ?? e?.message ?? String(err);
}

const httpsUrl = (host: string, port: number, url: string) =>
  `https://${host}${port === 443 ? '' : `:${port}`}${url.startsWith('/') ? url : '/'}`;

/** `tls.redirect`: 308 keeps the method and body, so a form POST is not turned into a GET. */
function redirect(res: http.ServerResponse, host: string, port: number, url: string): void {
  res.writeHead(308, {
    location: httpsUrl(host, port, url),
    'content-type': 'text/plain; charset=utf-8',
    'content-length': 0,
    'cache-control': 'no-store',
  });
  res.end();
}

function reply(res: http.ServerResponse, status: number, text: string): void {
  if (res.headersSent) return void res.destroy();
  // Answered before the client's upload ended: its connection closes after this (the rest is not read).
  const req = (res as { req?: http.IncomingMessage }).req;
  if (req && req.httpVersionMajor < 2 && hasBody(req) && !req.complete) res.shouldKeepAlive = false;
  const body = `${text}\n`;
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}

/** An HTTP answer on a socket that asked to upgrade: there is no ServerResponse to use. */
function rawReply(socket: Duplex, status: number, text: string): void {
  const body = `${text}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: text/plain; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}
