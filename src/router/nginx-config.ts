import net from 'node:net';
import { SlipwayError } from '../errors.js';
import { PLATFORM_ROUTE, type AcmeChallenge, type Backend, type Route } from './engine.js';
import { CHALLENGE_PREFIX, checkChallenge } from './acme-challenges.js';
import { normalizeHost } from './table.js';
import { accessLogFormat, appAccessLines } from './nginx-access.js';

/**
 * Renders the nginx engine's configuration: one main file and one file per
 * app, as Dokku and Piku do. Everything written here comes from the routing
 * table, and every value that lands in a config file is checked against a
 * strict pattern first: nginx config has no escaping worth trusting, so a
 * value that could end a directive (`;`, `{`, quotes, spaces) never gets in.
 */

/** App names as `auth/names.ts` allows them; also used in upstream and file names. */
const APP = /^[a-z][a-z0-9-]{0,62}$/;
/** Lowercase DNS names: dot-separated labels of a-z, 0-9 and inner hyphens. No wildcards, no regexes. */
const HOSTNAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
/** Backend ids only appear in comments, but a newline there would still end the comment. */
const BACKEND_ID = /^[\w.:@-]{1,200}$/;
/** A route's own request headers (Route.headers): token names, values without quotes, spaces or `;`. */
const HEADER_NAME = /^[A-Za-z0-9-]{1,64}$/;
const HEADER_VALUE = /^[A-Za-z0-9._~+/=-]{1,200}$/;

/** The probe server's name: `.invalid` is reserved (RFC 6761), and HOSTNAME refuses it for apps. */
export const PROBE_HOST = 'generation.slipway.invalid';

export interface MainConfig {
  /** Addresses and port nginx listens on (one `listen` each), already validated by `listenAddress`. */
  listen: string[];
  workerProcesses: number | 'auto';
  /** `worker_connections`, and `worker_rlimit_nofile` when the limit must be raised for it (see `connectionLimits`). */
  workerConnections: number;
  rlimitNofile?: number;
  /** Bumped on every change; the probe server answers `${token} ${generation}`. */
  generation: number;
  /** Random per router instance, so a probe can never be answered by some other nginx. */
  token: string;
  /** Seconds nginx waits for a backend to send or read: long polls and slow reports must pass. */
  proxyTimeoutS: number;
  /** The TLS port's `listen` arguments, one per address; absent when nginx does not terminate TLS. */
  tlsListen?: string[];
  /** ACME challenges for hosts no app route has (yet): answered by a server of their own. */
  unroutedChallenges?: AcmeChallenge[];
  /** Define the app servers' access log format (nginx-access.ts); off: nothing is logged. */
  accessLog?: boolean;
}

export interface AppConfig {
  route: Route;
  listen: string[];
  proxyTimeoutS: number;
  /** Extra directives for the app's `server` block (operator snippets; tests use it to break the config). */
  snippet?: string;
  /** The app's hosts served over TLS (those its certificate covers) and the certificate file, chain and key. */
  tls?: AppTls;
  /** ACME challenges for the app's hosts, answered before the app. */
  challenges?: AcmeChallenge[];
  /** The access file, relative to nginx's prefix (nginx-access.ts); absent: the app's requests are not logged. */
  accessFile?: string;
}

export interface AppTls {
  listen: string[];
  hosts: string[];
  /** Relative to the config directory; see `certFileName`. */
  file: string;
  /** `tls.redirect`: plain HTTP for `hosts` answers 308 to https on this port. */
  redirectPort?: number;
  /** `tls.hsts`: Strict-Transport-Security max-age on TLS responses; 0: none. */
  hstsMaxAge?: number;
}

/**
 * Certificate files are named by their content and kept beside the live
 * config directory, so the same relative path works from the live directory
 * and from a candidate one (nginx resolves it against the config's folder).
 */
export const certFileName = (sha256: string): string => `../certs/${sha256}.pem`;
const CERT_FILE = /^\.\.\/certs\/[0-9a-f]{64}\.pem$/;

const invalid = (message: string, hint: string) => new SlipwayError('invalid_route', message, { status: 422, hint });

/** Checks a route before any of it is written: app name, hosts, backends. Returns it with hosts normalized. */
export function checkRoute(route: Route): Route {
  if (!APP.test(route.app) && route.app !== PLATFORM_ROUTE)
    throw invalid(`the nginx router refuses app name ${JSON.stringify(route.app)}`, 'app names are lowercase letters, digits and "-"');
  const hosts = [...new Set(route.hosts.map(normalizeHost).filter((h) => h !== ''))];
  for (const host of hosts) {
    if (!HOSTNAME.test(host) || host.endsWith('.invalid')) {
      throw invalid(
        `the nginx router refuses host name ${JSON.stringify(host.slice(0, 80))} for ${route.app}`,
        'host names are DNS names: letters, digits, "-" and dots',
      );
    }
  }
  const backends = route.backends.map((b) => checkBackend(route.app, b));
  for (const [name, value] of Object.entries(route.headers ?? {}))
    if (!HEADER_NAME.test(name) || !HEADER_VALUE.test(value))
      throw invalid(`invalid request header ${JSON.stringify(name.slice(0, 80))} for ${route.app}`, 'this is a bug in the caller');
  return { app: route.app, hosts, backends, ...(route.headers ? { headers: { ...route.headers } } : {}) };
}

function checkBackend(app: string, b: Backend): Backend {
  if (!BACKEND_ID.test(b.id))
    throw invalid(`invalid backend id ${JSON.stringify(b.id.slice(0, 80))} for ${app}`, 'backend ids are instance ids like app.v3.web.1');
  const host = b.host.toLowerCase();
  if (net.isIPv4(host) === false && net.isIPv6(host) === false && !HOSTNAME.test(host)) {
    throw invalid(`invalid backend host ${JSON.stringify(b.host.slice(0, 80))} for ${app}`, 'backends are an IP address or a host name');
  }
  if (!Number.isInteger(b.port) || b.port < 1 || b.port > 65535)
    throw invalid(`invalid backend port ${b.port} for ${app} (${b.id})`, 'ports are 1-65535');
  return { id: b.id, host, port: b.port };
}

/** `listen` argument for an address and port: `127.0.0.1:8000`, `[::]:8000`, `localhost:8000`. */
export function listenAddress(host: string, port: number): string {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalid(`invalid router port ${port}`, 'ports are 1-65535');
  // nginx's default for `[::]` is ipv6only=on, so `0.0.0.0` beside it binds too. (Saying so
  // here would repeat a socket option in every server block, which nginx refuses.)
  if (net.isIPv6(host)) return `[${host}]:${port}`;
  if (net.isIPv4(host) || HOSTNAME.test(host)) return `${host}:${port}`;
  throw invalid(`invalid router address ${JSON.stringify(host)}`, 'use an IP address or a host name');
}

/** One `listen` line per address, each with `extra` (`default_server`), indented for the block they go in. */
function listenLines(addresses: string[], extra: string, indent: number): string {
  return addresses.map((a) => `listen ${a}${extra};`).join(`\n${' '.repeat(indent)}`);
}

/**
 * 4096 connections per worker (each proxied request takes two), raising the
 * open-file limit when the hard limit allows it. Otherwise the connections fit
 * under the soft limit: nginx would warn about it on every reload, and a worker
 * out of descriptors fails requests.
 */
export function connectionLimits(files: { soft: number; hard: number } | undefined): { workerConnections: number; rlimitNofile?: number } {
  const wanted = 4096;
  if (!files || files.soft >= wanted * 2) return { workerConnections: wanted };
  if (files.hard >= wanted * 2) return { workerConnections: wanted, rlimitNofile: wanted * 2 };
  return { workerConnections: Math.max(64, Math.min(wanted, files.soft - 32)) };
}

/** The app's config file name inside the apps directory. */
export const appFileName = (app: string): string => `${app}.conf`;

/**
 * For Slipway's own answers only: at http level `charset` would also be added
 * to the apps' proxied responses that name no charset.
 */
const TEXT = 'default_type text/plain; charset utf-8;';

const hostPort = (b: Backend): string => (net.isIPv6(b.host) ? `[${b.host}]:${b.port}` : `${b.host}:${b.port}`);

/**
 * The main config. Paths are relative on purpose: temp paths and the pid file
 * resolve against the prefix (`-p`), `include` against the directory of the
 * file, so the same text works for the live directory and a candidate one
 * that `nginx -t` checks, and odd characters in the state dir never need quoting.
 */
export function renderMain(c: MainConfig): string {
  return `# Generated by Slipway's nginx router engine; rewritten on every route change. Do not edit.
worker_processes ${c.workerProcesses};
${c.rlimitNofile ? `worker_rlimit_nofile ${c.rlimitNofile};\n` : ''}pid nginx.pid;
pcre_jit on;
error_log stderr warn;

events {
    worker_connections ${c.workerConnections};
}

http {
    access_log off;
    server_tokens off;
${c.accessLog ? renderAccessFormat(c.token) : ''}
    # Workers run as an unprivileged user when the master is root and cannot
    # reach the state dir, so nothing may spill to temp files: request bodies
    # stream to the app (as the built-in router does) and responses larger than
    # the buffers are passed on at the client's pace instead of being spooled.
    client_body_temp_path tmp/client_body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
    client_max_body_size 0;
    proxy_request_buffering off;
    proxy_max_temp_file_size 0;

    # Websockets: pass Upgrade through; otherwise send no Connection header so
    # upstream connections stay in the keepalive pool.
    map $http_upgrade $slipway_connection {
        default upgrade;
        ''      '';
    }

    # Keep a request id the client sent if it is sane (as the built-in router does).
    map $http_x_request_id $slipway_request_id {
        default                         $request_id;
        "~^[A-Za-z0-9_.:+=/-]{1,200}$"  $http_x_request_id;
    }

    # TLS port: a request must ask for the name its connection was made for. SNI is as the
    # client sent it, $host lowercased without a trailing dot: compare them the same way.
    map "$ssl_server_name:$host" $slipway_misdirected {
        "~*^([^:]*?)\\.?:\\1$"  0;
        default                 1;
    }

    map $http_host $slipway_shown_host {
        ''      '(no Host header)';
        default $host;
    }

    proxy_read_timeout ${c.proxyTimeoutS}s;
    proxy_send_timeout ${c.proxyTimeoutS}s;

    # Unknown hosts.
    server {
        ${listenLines(c.listen, ' default_server', 8)}
        server_name _;
        ${TEXT}${c.accessLog ? DECLARE_ACCESS_VARIABLES : ''}
        location / {
            return 404 "No app is served at $slipway_shown_host\\n";
        }
    }

    # Slipway asks this server which config generation is live after a reload.
    server {
        ${listenLines(c.listen, '', 8)}
        server_name ${PROBE_HOST};
        ${TEXT}
        location = /generation {
            return 200 "${c.token} ${c.generation}\\n";
        }
        location / {
            return 404;
        }
    }

${c.tlsListen ? renderTlsDefault(c.tlsListen) : ''}${c.unroutedChallenges?.length ? renderChallengeServer(c.listen, c.unroutedChallenges) : ''}
    include apps/*.conf;
}
`;
}

/** The access log format names the variables app servers `set`: with no app yet, `set` here declares them (unknown hosts log nothing). */
const DECLARE_ACCESS_VARIABLES = `
        set $slipway_app "";
        set $slipway_relayed 0;`;

/** Only app servers log (nginx-access.ts); misdirected requests on the TLS port are not counted. */
function renderAccessFormat(token: string): string {
  return `
    ${accessLogFormat(token)}
    map $slipway_misdirected $slipway_tls_logged {
        0       1;
        default 0;
    }
`;
}

/**
 * The TLS port's catch-all: a name without a certificate, or no name, gets
 * no handshake (never another app's certificate). A request that reaches it
 * came on a connection made for another name: 421, as the built-in router.
 */
function renderTlsDefault(listen: string[]): string {
  return `
    ssl_protocols TLSv1.2 TLSv1.3;

    server {
        ${listenLines(listen, ' ssl http2 default_server', 8)}
        server_name _;
        ssl_reject_handshake on;
        ${TEXT}
        location / {
            return 421 "This connection is for $ssl_server_name, not $slipway_shown_host\\n";
        }
    }
`;
}

/**
 * ACME HTTP-01 answers, one exact location per token, each for its own host
 * only (a server block may serve several). Every value was checked against
 * the base64url grammar (checkChallenge), so none can end a directive.
 */
function challengeLocations(challenges: AcmeChallenge[], indentBy: number): string {
  const pad = ' '.repeat(indentBy);
  return challenges
    .map(checkChallenge)
    .map(
      (c) => `
${pad}location = ${CHALLENGE_PREFIX}${c.token} {
${pad}    access_log off;
${pad}    if ($host != "${c.host}") {
${pad}        return 404;
${pad}    }
${pad}    default_type text/plain;
${pad}    return 200 "${c.keyAuthorization}";
${pad}}
`,
    )
    .join('');
}

/** Challenges for hosts without a route: their own server, answering nothing else. */
function renderChallengeServer(listen: string[], challenges: AcmeChallenge[]): string {
  const hosts = [...new Set(challenges.map((c) => checkChallenge(c).host))];
  return `
    server {
        ${listenLines(listen, '', 8)}
        server_name ${hosts.join(' ')};
        ${TEXT}
${challengeLocations(challenges, 8)}
        location / {
            return 404 "No app is served at $slipway_shown_host\\n";
        }
    }
`;
}

/** One app's file: an upstream with a keepalive pool and a server block for its hosts, or a 502 server when it has no backends. */
export function renderApp(c: AppConfig): string {
  const route = checkRoute(c.route);
  const hosts = route.hosts;
  const head = `# Slipway app ${route.app}; generated from the routing table, rewritten on every deploy. Do not edit.\n`;
  const snippet = c.snippet ? `\n    # operator snippet\n${indent(c.snippet.trim(), 4)}\n` : '';
  // An app can exist without hosts (removed domains): nothing to serve, nothing to write.
  if (hosts.length === 0) return `${head}# (no host names)\n`;
  const tls = c.tls ? checkTls(route, c.tls) : undefined;
  const challengesOf = (names: string[]) =>
    challengeLocations(
      (c.challenges ?? []).filter((ch) => names.includes(normalizeHost(ch.host))),
      4,
    );
  // `tls.redirect`: the hosts served over TLS get a plain server of their own that only redirects (ACME challenges exempt).
  const redirected = tls?.redirectPort ? tls.hosts : [];
  const plainHosts = hosts.filter((h) => !redirected.includes(h));
  const redirectServer = redirected.length
    ? `
server {
    ${listenLines(c.listen, '', 4)}
    server_name ${redirected.join(' ')};
${challengesOf(redirected)}
    location / {
        return 308 https://$host${tls!.redirectPort === 443 ? '' : `:${tls!.redirectPort}`}$request_uri;
    }
}
`
    : '';
  const logLines = (tls: boolean) =>
    c.accessFile
      ? `${appAccessLines(route.app, c.accessFile, { tls })
          .map((l) => `    ${l}\n`)
          .join('')}`
      : '';
  const serverHead = plainHosts.length
    ? `server {
    ${listenLines(c.listen, '', 4)}
    server_name ${plainHosts.join(' ')};
${logLines(false)}${snippet}${challengesOf(plainHosts)}`
    : undefined;
  // The same server again on the TLS port, for the hosts the certificate covers; a request for another host on it is misdirected.
  const tlsHead = tls
    ? `server {
    ${listenLines(tls.listen, ' ssl http2', 4)}
    server_name ${tls.hosts.join(' ')};
${logLines(true)}    ssl_certificate ${tls.file};
    ssl_certificate_key ${tls.file};${tls.hstsMaxAge ? `\n    add_header Strict-Transport-Security "max-age=${tls.hstsMaxAge}" always;` : ''}
    if ($slipway_misdirected) {
        return 421 "This connection is for $ssl_server_name, not $host\\n";
    }
${snippet}`
    : undefined;
  if (route.backends.length === 0) {
    const down = `
    location / {
        ${TEXT}
        return 502 "${route.app} has no running web process\\n";
    }
}
`;
    return `${head}${serverHead ? `${serverHead}${down}` : ''}${redirectServer}${tlsHead ? `\n${tlsHead}${down}` : ''}`;
  }
  const upstream = `slipway_app_${route.app}`;
  const servers = route.backends.map((b) => `    server ${hostPort(b)};  # ${b.id}`).join('\n');
  const proxy = `
    error_page 502 504 @slipway_down;

    location / {${c.accessFile ? '\n        set $slipway_relayed 1;' : ''}
        proxy_pass http://${upstream};
        proxy_http_version 1.1;
        proxy_redirect off;
        proxy_set_header Host $http_host;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $slipway_connection;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Forwarded-Port $server_port;
        proxy_set_header X-Request-Id $slipway_request_id;${Object.entries(route.headers ?? {})
          .map(([name, value]) => `\n        proxy_set_header ${name} "${value}";`)
          .join('')}
    }

    location @slipway_down {${c.accessFile ? '\n        set $slipway_relayed 0;' : ''}
        ${TEXT}
        return 502 "${route.app} did not answer\\n";
    }
}
`;
  return `${head}upstream ${upstream} {
    # Shared state, so round robin is one rotation across all workers, not one per worker.
    zone ${upstream} 64k;
${servers}
    keepalive 32;
}

${serverHead ? `${serverHead}${proxy}` : ''}${redirectServer}${tlsHead ? `\n${tlsHead}${proxy}` : ''}`;
}

/** The TLS hosts must be the route's own, and the file one of ours: nothing else gets into the config. */
function checkTls(route: Route, tls: AppTls): AppTls {
  const own = new Set(route.hosts);
  const hosts = [...new Set(tls.hosts.map(normalizeHost))].filter((h) => own.has(h));
  if (!hosts.length) throw invalid(`no TLS host of ${route.app} is among its hosts`, 'this is a bug in the nginx engine');
  if (!CERT_FILE.test(tls.file))
    throw invalid(
      `invalid certificate file ${JSON.stringify(tls.file.slice(0, 80))} for ${route.app}`,
      'this is a bug in the nginx engine',
    );
  const port = tls.redirectPort;
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536))
    throw invalid(`invalid TLS port ${port} for ${route.app}`, 'this is a bug in the nginx engine');
  const hsts = tls.hstsMaxAge ?? 0;
  if (!(Number.isInteger(hsts) && hsts >= 0))
    throw invalid(`invalid HSTS max-age ${hsts} for ${route.app}`, 'this is a bug in the nginx engine');
  return { listen: tls.listen, hosts, file: tls.file, redirectPort: port, hstsMaxAge: hsts };
}

function indent(text: string, n: number): string {
  const pad = ' '.repeat(n);
  return text
    .split('\n')
    .map((l) => (l ? pad + l : l))
    .join('\n');
}
