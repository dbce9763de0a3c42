import http from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { randomUUID } from 'node:crypto';
import { createProxyServer, type ProxyServer } from 'http-proxy-3';
import type { Backend, Route, RouterEngine } from './engine.js';
import { listenAll, WILDCARD_HOSTS, type ExtraListeners } from '../listen.js';
import { InFlight } from './in-flight.js';
import { RouteTable, normalizeHost } from './table.js';

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
}

/**
 * The zero-setup router engine: one Node HTTP server proxying by Host header
 * to the app's web instances, round robin, websockets included.
 */
export class BuiltinRouter implements RouterEngine {
  readonly name = 'builtin';
  serves?: (backendId: string) => boolean;
  owns?: (port: number, clientPort: number) => boolean;
  private readonly table = new RouteTable();
  private readonly inFlight = new InFlight();
  private readonly sockets = new Set<Socket | Duplex>();
  /** Reuses connections to backends; a new TCP handshake per request costs more than the proxying. */
  private readonly agent: http.Agent;
  /** For upgraded connections (websockets): verified like the pool's, never kept. */
  private readonly oneShot: http.Agent;
  private readonly proxy: ProxyServer;
  private readonly server: http.Server;
  private readonly log: (msg: string) => void;
  /** The sockets on the other addresses (`listen` with several hosts). */
  private extra?: ExtraListeners;

  constructor(private readonly opts: BuiltinRouterOptions = {}) {
    this.log = opts.log ?? (() => undefined);
    this.agent = new VerifyingAgent({ keepAlive: true }, this);
    this.oneShot = new VerifyingAgent({ keepAlive: false }, this);
    this.proxy = createProxyServer({ ws: true, proxyTimeout: opts.proxyTimeoutMs });
    // Every call passes its own error callback; this is the net for anything
    // emitted outside one, since an unhandled 'error' would kill the daemon.
    this.proxy.on('error', (err) => this.log(`router: proxy error: ${err.message}`));
    // Upgraded connections to backends: close() must end them too, not only the client side.
    this.proxy.on('open', (proxySocket) => this.track(proxySocket));
    this.server = http.createServer((req, res) => this.handle(req, res));
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

  /** Where the router listens; useful after `listen(0)`. */
  address(): { host: string; port: number } | undefined {
    const addr = this.server.address() as AddressInfo | null;
    return addr ? { host: addr.address, port: addr.port } : undefined;
  }

  async setRoute(route: Route): Promise<void> {
    this.table.set(route);
  }

  async removeRoute(app: string): Promise<void> {
    this.table.remove(app);
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
  }

  /** Requests in flight to one backend (for `ps` and tests). */
  inFlightCount(backendId: string): number {
    return this.inFlight.count(backendId);
  }

  async close(): Promise<void> {
    const extra = this.extra?.close();
    this.extra = undefined;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    if (this.server.listening) await closed;
    await extra;
    this.agent.destroy();
    this.inFlight.clear();
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const hit = this.table.lookup(req.headers.host, this.serves);
    if (!hit) return reply(res, 404, `No app is served at ${displayHost(req)}`);
    if (!hit.backend) return reply(res, 502, `${hit.app} has no running web process`);
    const backend = hit.backend;
    this.setForwardedHeaders(req);
    const end = this.inFlight.begin(backend.id);
    // 'close' fires once whether the response finished or the client went away.
    res.once('close', end);
    this.proxy.web(req, res, { target: target(backend), agent: this.agent }, (err) => {
      this.log(`router: ${hit.app} → ${backend.id}: ${describeError(err)}`);
      if (!res.headersSent) reply(res, 502, `${hit.app} did not answer (${backend.id}: ${describeError(err)})`);
      else res.destroy();
      end();
    });
  }

  private handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const hit = this.table.lookup(req.headers.host, this.serves);
    if (!hit) return rawReply(socket, 404, `No app is served at ${displayHost(req)}`);
    if (!hit.backend) return rawReply(socket, 502, `${hit.app} has no running web process`);
    const backend = hit.backend;
    this.setForwardedHeaders(req);
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
   * request id the app can log (kept if the client sent a sane one).
   */
  private setForwardedHeaders(req: http.IncomingMessage): void {
    const h = req.headers;
    const remote = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    const prior = h['x-forwarded-for'];
    h['x-forwarded-for'] = prior ? `${prior}, ${remote}` : remote;
    const encrypted = Boolean((req.socket as { encrypted?: boolean }).encrypted);
    if (!this.opts.trustForwarded || !h['x-forwarded-proto']) h['x-forwarded-proto'] = encrypted ? 'https' : 'http';
    if (!this.opts.trustForwarded || !h['x-forwarded-port']) h['x-forwarded-port'] = String(req.socket.localPort ?? '');
    const id = h['x-request-id'];
    if (typeof id !== 'string' || !/^[\w\-.:+=/]{1,200}$/.test(id)) h['x-request-id'] = randomUUID();
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }
}

function target(backend: Backend) {
  return { host: backend.host, port: backend.port, protocol: 'http:' };
}

/** The host as we matched it (lowercase, no port), so the message names what was looked up. */
function displayHost(req: http.IncomingMessage): string {
  return normalizeHost(req.headers.host ?? '') || '(no Host header)';
}

function describeError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e?.code ?? e?.message ?? String(err);
}

function reply(res: http.ServerResponse, status: number, text: string): void {
  if (res.headersSent) return void res.destroy();
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

/**
 * An agent whose every new backend connection is checked once it is up: the
 * process that accepted it must be the backend's own (see RouterEngine.owns),
 * else the connection is dropped and the request gets a 502. Pooled
 * connections were checked when they were made; an app's port cannot change
 * hands under an established connection.
 */
class VerifyingAgent extends http.Agent {
  constructor(
    opts: http.AgentOptions,
    private readonly router: { owns?: (port: number, clientPort: number) => boolean },
  ) {
    super(opts);
  }

  override createConnection(options: http.ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): undefined {
    const socket = net.connect(options as net.NetConnectOpts);
    const port = Number(options.port);
    const done = callback ?? (() => undefined);
    let settled = false;
    const settle = (err: Error | null) => {
      if (settled) return;
      settled = true;
      done(err, socket);
    };
    // Never without a listener: a backend that dies while we check would otherwise kill the daemon.
    socket.on('error', (err) => settle(err));
    socket.once('connect', () => {
      const owns = this.router.owns;
      // The kernel may list the accepted side a moment after our side connected: a "no" is asked again.
      const check = (tries: number) => {
        if (settled) return;
        if (!owns || socket.localPort === undefined || owns(port, socket.localPort)) return settle(null);
        if (tries > 0) return void setTimeout(() => check(tries - 1), 5);
        socket.destroy();
        settle(new Error(`the listener on port ${port} is not the instance's own`));
      };
      check(3);
    });
    return undefined;
  }
}
