import dgram from 'node:dgram';
import type { RequestRecorder } from '../metrics/platform-metrics.js';
import type { AccessEntry } from './engine.js';

/**
 * The nginx engine's access log: nginx sends one syslog datagram per app
 * request to a UDP socket the daemon holds on loopback, and each becomes what
 * the built-in router reports itself — a `requests.request(...)` for metrics
 * and, for answers the app gave, an `onAccess` entry for the log drains.
 * Every line carries the router's random token, so a datagram some other
 * local process sends is not counted; anything that does not parse is dropped.
 */

/** The `log_format` name app servers log with. */
export const ACCESS_FORMAT = 'slipway_access';

/** Bigger datagrams are not nginx's lines for us (a request line is at most a few KB): dropped unread. */
const MAX_DATAGRAM = 32 * 1024;

/** The http-level `log_format`: JSON-escaped, so nothing a client sends can end a field. */
export function accessLogFormat(token: string): string {
  const fields = [
    `"k":"${token}"`,
    '"app":"$slipway_app"',
    '"relayed":"$slipway_relayed"',
    '"method":"$request_method"',
    '"status":"$status"',
    '"seconds":"$request_time"',
    '"host":"$host"',
    '"path":"$request_uri"',
    '"id":"$slipway_request_id"',
    '"fwd":"$remote_addr"',
    '"bytes":"$sent_http_content_length"',
    '"scheme":"$scheme"',
  ];
  return `log_format ${ACCESS_FORMAT} escape=json '{${fields.join(',')}}';`;
}

/**
 * The directives that make an app's server block log: which app it is, and
 * the access log (on the TLS port only for requests that asked for the name
 * their connection was made for, as the built-in router counts no 421s).
 * `$slipway_relayed` is 1 only where the app's answer is passed on.
 */
export function appAccessLines(app: string, port: number, opts: { tls?: boolean } = {}): string[] {
  return [
    `set $slipway_app ${app};`,
    'set $slipway_relayed 0;',
    `access_log syslog:server=127.0.0.1:${port},nohostname,tag=slipway ${ACCESS_FORMAT}${opts.tls ? ' if=$slipway_tls_logged' : ''};`,
  ];
}

/** One access line as parsed; undefined when it is not one of ours. */
export interface AccessLine {
  app: string;
  relayed: boolean;
  method: string;
  status: number;
  seconds: number;
  entry: AccessEntry;
}

/** Parses a syslog datagram nginx sent (`<190>Nov 30 03:40:00 slipway: {...}`); never throws. */
export function parseAccessLine(data: Buffer, token: string): AccessLine | undefined {
  if (data.length > MAX_DATAGRAM) return undefined;
  const text = data.toString('utf8');
  const start = text.indexOf(': {');
  if (start < 0) return undefined;
  let v: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(text.slice(start + 2));
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    v = parsed as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const str = (k: string): string => (typeof v[k] === 'string' ? (v[k] as string) : '');
  if (str('k') !== token) return undefined;
  const status = Number(str('status'));
  const seconds = Number(str('seconds'));
  const app = str('app');
  if (!app || !Number.isInteger(status) || status < 100 || status > 599 || !Number.isFinite(seconds) || seconds < 0) return undefined;
  const bytes = str('bytes') === '' ? undefined : Number(str('bytes'));
  const method = str('method');
  return {
    app,
    relayed: str('relayed') === '1',
    method,
    status,
    seconds,
    entry: {
      app,
      method,
      path: str('path'),
      host: str('host'),
      fwd: str('fwd'),
      status,
      bytes: bytes !== undefined && Number.isSafeInteger(bytes) ? bytes : undefined,
      protocol: str('scheme') === 'https' ? 'https' : 'http',
    },
  };
}

export interface AccessListenerOptions {
  /** The router's random token; lines without it are dropped. */
  token: string;
  /** Only lines naming a routed app count (a reload can leave an old worker logging a removed one). */
  isRouted: (app: string) => boolean;
  requests?: RequestRecorder;
  /** Read per line: the daemon sets the router's `onAccess` after the engine is created. */
  onAccess: () => ((entry: AccessEntry) => void) | undefined;
  log: (msg: string) => void;
}

/** The daemon's end: a UDP socket on 127.0.0.1 at a port the system picks. */
export class NginxAccessListener {
  private constructor(
    private readonly socket: dgram.Socket,
    readonly port: number,
  ) {}

  static start(opts: AccessListenerOptions): Promise<NginxAccessListener> {
    const socket = dgram.createSocket('udp4');
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, '127.0.0.1', () => {
        socket.off('error', reject);
        // A socket error must never take the daemon down; reporting it is enough.
        socket.on('error', (err) => opts.log(`router: nginx access log socket: ${err.message}`));
        socket.on('message', (data) => handle(data, opts));
        resolve(new NginxAccessListener(socket, socket.address().port));
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      try {
        this.socket.close(() => resolve());
      } catch {
        resolve(); // already closed
      }
    });
  }
}

function handle(data: Buffer, opts: AccessListenerOptions): void {
  const line = parseAccessLine(data, opts.token);
  // Websockets: nginx logs one when it closes (101); the built-in engine counts none.
  if (!line || line.status === 101 || !opts.isRouted(line.app)) return;
  try {
    opts.requests?.request(line.app, line.method, line.status, line.seconds);
    if (line.relayed) opts.onAccess()?.(line.entry);
  } catch (err) {
    opts.log(`router: access line for ${line.app}: ${(err as Error).message}`);
  }
}
