import type http from 'node:http';
import type { Platform, ServerSettings } from '../commands/context.js';
import type { GitGateway } from '../git/gateway.js';
import type { Store } from '../store/index.js';
import type { Layout } from '../store/layout.js';
import type { LoginThrottle } from '../auth/throttle.js';
import type { LiveSessions } from '../auth/sessions.js';
import type { PlatformMetrics } from '../metrics/platform-metrics.js';

export interface ApiOptions {
  store: Store;
  gateway: GitGateway;
  /** The running daemon's queue and services: every call that starts work goes through it. */
  platform: Platform;
  layout: Layout;
  settings: ServerSettings;
  /** Requests under /git/ go here instead (smart HTTP). */
  gitHandler: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  version: string;
  /** Largest upload body (artifacts, source tarballs) accepted, in bytes; default 1 GiB. */
  maxUploadBytes?: number;
  /** Slows down password guessing at /api/v1/login; one per server. */
  loginThrottle?: LoginThrottle;
  /** Where unexpected (5xx) errors are reported; default stderr. */
  log?: (msg: string) => void;
  /** Streams that end when their token's access is revoked; default one of this server's own. */
  sessions?: LiveSessions;
  /** The key the router proves itself with on the server's own route (`--api-domain`); see client-address.ts. */
  routerKey?: string;
  /** The server's metrics: `GET /metrics` and the dashboard's traffic figures; absent, /metrics answers 404. */
  metrics?: PlatformMetrics;
  /** A token that may scrape /metrics and nothing else (`--metrics-token-file`). */
  metricsToken?: string;
}

/** What every route module gets: the options, with defaults filled in. */
export interface ApiContext extends ApiOptions {
  maxUploadBytes: number;
  log: (msg: string) => void;
  sessions: LiveSessions;
  /** Where a request came from: the socket's address, or the router's word for it (client-address.ts). */
  clientAddress(req: http.IncomingMessage): string;
}

export const DEFAULT_MAX_UPLOAD_BYTES = 1024 ** 3;
