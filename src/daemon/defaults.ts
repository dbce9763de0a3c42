import { DEFAULT_MAX_UPLOAD_BYTES } from '../api/context.js';
import { DEFAULT_EGRESS } from '../egress/index.js';
import { DEFAULT_GUEST_UIDS } from '../guest/users.js';
import { DEFAULT_RETRY } from '../notify/retry.js';
import type { RouterSetting } from '../router/select.js';
import type { DriverKind } from '../runtime/select.js';

/**
 * Every default of `slipway server`, written once: the flags' defaults
 * (cli/server.ts), the daemon's fallbacks when it is started from code or
 * tests (daemon/server.ts), and what host commands assume while the daemon is
 * down (cli/client.ts). Durations are in milliseconds; the flags take seconds.
 */
export const SERVER_DEFAULTS = {
  sshPort: 2222,
  httpPort: 7000,
  routerPort: 8000,
  routerTlsPort: 8443,
  /** Where ACME certificates come from (`--acme-directory`): Let's Encrypt production. */
  acmeDirectory: 'https://acme-v02.api.letsencrypt.org/directory',
  /** Apps are served at APP.DOMAIN. */
  domain: 'localhost',
  /** `--api-domain`: none, the API and git over HTTP answer on the HTTP port only. */
  apiDomain: undefined as string | undefined,
  /** `auto`: nginx when it is installed, the built-in router otherwise. */
  router: 'auto' as RouterSetting,
  driver: 'process' as DriverKind,
  /** Succeeded releases kept per app (`--keep-releases`); an app's `releases.keep` overrides it. */
  keepReleases: 5,
  /** Archive-stage snapshots kept per app; no flag, an app's `backups.keep` overrides it. */
  keepBackups: 5,
  healthTimeoutMs: 60_000,
  stopGraceMs: 30_000,
  /** How long a docker app's next build container, started after its deploy, waits for the next push (`--build-keep-warm`). */
  buildKeepWarmMs: 600_000,
  /** Wait before a failed webhook delivery's first retry; doubles each time. */
  webhookRetryMs: DEFAULT_RETRY.baseDelayMs,
  /** Largest API upload (artifact or source tarball); also the size limit of fetches for users. */
  maxUploadBytes: DEFAULT_MAX_UPLOAD_BYTES,
  /** Guests on: each app runs as its own user (root servers). */
  guests: true,
  /** Inclusive range each app's own uid/gid comes from. */
  guestUids: DEFAULT_GUEST_UIDS,
  /** Egress ranges and timeouts (`--egress-*`); the size limit is maxUploadBytes. */
  egress: {
    allow: DEFAULT_EGRESS.allow,
    connectTimeoutMs: DEFAULT_EGRESS.connectTimeoutMs,
    idleTimeoutMs: DEFAULT_EGRESS.idleTimeoutMs,
    totalTimeoutMs: DEFAULT_EGRESS.totalTimeoutMs,
  },
} as const;
