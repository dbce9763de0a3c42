import type { RequestRecorder } from '../metrics/platform-metrics.js';
import type { AccessEntry } from './engine.js';

/**
 * The nginx engine's access log: app servers append one line per request to
 * a buffered file beside the config (nginx-access-file.ts follows it), and
 * each line becomes what the built-in router reports itself — a
 * `requests.request(...)` for metrics and, for answers the app gave, an
 * `onAccess` entry for the log drains. A line is one write of a 64 KB
 * buffer, flushed at least every second: the daemon reads them in batches
 * instead of taking one datagram per request (which cost a third of nginx's
 * throughput). The app is the one the server block names (`set`), never
 * anything a client sends; every line also carries the router's random
 * token, so a line that did not come from our nginx's format never counts.
 */

/** The `log_format` name app servers log with. */
export const ACCESS_FORMAT = 'slipway_access';

/** nginx's buffer per worker: one write(2) per this many bytes of lines, or per flush interval. */
export const ACCESS_BUFFER = '64k';
export const ACCESS_FLUSH = '1s';

/**
 * The fields, tab-separated. nginx's default escaping writes `"`, `\`, control
 * bytes (a tab, a newline) and bytes above 126 as `\xHH`, so nothing a client
 * sends can end a field or a line; an empty value is written `-`.
 */
const FIELDS = [
  '$slipway_app',
  '$slipway_relayed',
  '$request_method',
  '$status',
  '$request_time',
  '$host',
  '$request_uri',
  '$remote_addr',
  '$sent_http_content_length',
  '$scheme',
];

/** The http-level `log_format`. */
export function accessLogFormat(token: string): string {
  return `log_format ${ACCESS_FORMAT} '${[token, ...FIELDS].join('\\t')}';`;
}

/**
 * The directives that make an app's server block log: which app it is, and
 * the access log (on the TLS port only for requests that asked for the name
 * their connection was made for, as the built-in router counts no 421s).
 * `$slipway_relayed` is 1 only where the app's answer is passed on.
 * `file` is relative to nginx's prefix (the engine's state dir).
 */
export function appAccessLines(app: string, file: string, opts: { tls?: boolean } = {}): string[] {
  return [
    `set $slipway_app ${app};`,
    'set $slipway_relayed 0;',
    `access_log ${file} ${ACCESS_FORMAT} buffer=${ACCESS_BUFFER} flush=${ACCESS_FLUSH}${opts.tls ? ' if=$slipway_tls_logged' : ''};`,
  ];
}

/** One access line as parsed; undefined when it is not one of ours. */
export interface AccessLine {
  app: string;
  relayed: boolean;
  method: string;
  status: number;
  seconds: number;
  /** Split fields, for `entryOf`: the drain entry is built only for lines that go to a drain. */
  fields: string[];
}

/** Longer lines are not nginx's lines for us (a request line is at most a few KB). */
const MAX_LINE = 32 * 1024;

/** Parses one line of the access file (without its newline); never throws. */
export function parseAccessLine(line: string, token: string): AccessLine | undefined {
  if (line.length > MAX_LINE || !line.startsWith(token) || line.charCodeAt(token.length) !== 9) return undefined;
  const f = line.split('\t');
  if (f.length !== FIELDS.length + 1) return undefined;
  const app = f[1]!;
  const status = Number(f[4]);
  const seconds = Number(f[5]);
  if (app === '-' || !Number.isInteger(status) || status < 100 || status > 599 || !Number.isFinite(seconds) || seconds < 0)
    return undefined;
  return { app, relayed: f[2] === '1', method: unescape(f[3]!), status, seconds, fields: f };
}

/** The drain entry of a parsed line. */
export function entryOf(line: AccessLine): AccessEntry {
  const f = line.fields;
  const bytes = f[9] === '-' ? undefined : Number(f[9]);
  return {
    app: line.app,
    method: line.method,
    path: unescape(f[7]!),
    host: unescape(f[6]!),
    fwd: unescape(f[8]!),
    status: line.status,
    bytes: bytes !== undefined && Number.isSafeInteger(bytes) ? bytes : undefined,
    protocol: f[10] === 'https' ? 'https' : 'http',
  };
}

/** nginx's `\xHH` escapes back to the bytes the client sent (UTF-8 paths included); `-` is empty. */
function unescape(v: string): string {
  if (v === '-') return '';
  if (!v.includes('\\x')) return v;
  return Buffer.from(
    v.replace(/\\x([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))),
    'latin1',
  ).toString('utf8');
}

export interface AccessSinkOptions {
  /** The router's random token; lines without it are dropped. */
  token: string;
  /** Only lines naming a routed app count (a reload can leave an old worker logging a removed one). */
  isRouted: (app: string) => boolean;
  requests?: RequestRecorder;
  /** Read per line: the daemon sets the router's `onAccess` after the engine is created. */
  onAccess: () => ((entry: AccessEntry) => void) | undefined;
  /** Read per line too: false when the app's router lines go nowhere (no entry is built). */
  accessWanted: () => ((app: string) => boolean) | undefined;
  log: (msg: string) => void;
}

/** Counts one line and hands it to the drains; anything that is not our line is dropped. */
export function handleAccessLine(text: string, opts: AccessSinkOptions): void {
  const line = parseAccessLine(text, opts.token);
  // Websockets: nginx logs one when it closes (101); the built-in engine counts none.
  if (!line || line.status === 101 || !opts.isRouted(line.app)) return;
  try {
    opts.requests?.request(line.app, line.method, line.status, line.seconds);
    const onAccess = line.relayed ? opts.onAccess() : undefined;
    if (onAccess && opts.accessWanted()?.(line.app) !== false) onAccess(entryOf(line));
  } catch (err) {
    opts.log(`router: access line for ${line.app}: ${(err as Error).message}`);
  }
}
