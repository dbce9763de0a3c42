import { Command, Option } from 'commander';
import fs from 'node:fs';
import { SERVER_DEFAULTS as D } from '../daemon/defaults.js';
import { startServer } from '../daemon/server.js';
import { ROUTER_ENGINES } from '../router/select.js';
import { DRIVERS } from '../runtime/select.js';
import { Layout } from '../store/layout.js';
import { parseAllowList } from '../egress/index.js';

const int = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`"${v}" is not a port number`);
  return n;
};

const positive = (v: string) => {
  const n = Number(v);
  if (!(n > 0)) throw new Error(`"${v}" is not a positive number`);
  return n;
};

const uidRange = (v: string): [number, number] => {
  const m = /^(\d+)-(\d+)$/.exec(v);
  if (!m) throw new Error(`--guest-uids "${v}" is not a range like 70000-169999`);
  return [Number(m[1]), Number(m[2])];
};

/** `10.0.0.0/8,::1/128` → the ranges, each checked now, so a typo stops the start. */
const allowList = (v: string) => {
  parseAllowList(v);
  return v.split(/[\s,]+/).filter(Boolean);
};

/** `slipway server`: embedded defaults, every one overridable by a flag or an environment variable. */
export function serverCommand(): Command {
  const env = process.env;
  const defaultCa = env.SLIPWAY_EXTRA_CA_BUNDLE ?? env.NODE_EXTRA_CA_CERTS;
  return new Command('server')
    .description('run the Slipway daemon: SSH, HTTP (git + API) and the router')
    .addOption(new Option('--home <dir>', 'data directory').env('SLIPWAY_HOME').default(Layout.defaultHome()))
    .addOption(
      new Option('--ssh-port <port>', 'SSH port (git push and commands)').env('SLIPWAY_SSH_PORT').default(D.sshPort).argParser(int),
    )
    .addOption(
      new Option('--http-port <port>', 'HTTP port (git over HTTP and the API)').env('SLIPWAY_HTTP_PORT').default(D.httpPort).argParser(int),
    )
    .addOption(
      new Option('--router-port <port>', 'port apps are served on').env('SLIPWAY_ROUTER_PORT').default(D.routerPort).argParser(int),
    )
    .addOption(
      new Option('--router-tls-port <port>', 'port apps with a certificate are served on over HTTPS (certs:add)')
        .env('SLIPWAY_ROUTER_TLS_PORT')
        .default(D.routerTlsPort)
        .argParser(int),
    )
    .addOption(
      new Option('--router <engine>', 'router engine: auto (nginx when installed, else builtin), builtin (Node) or nginx')
        .env('SLIPWAY_ROUTER')
        .choices(ROUTER_ENGINES)
        .default(D.router),
    )
    .addOption(
      new Option(
        '--driver <driver>',
        'runtime driver: process (embedded), docker (needs dockerd and `slipway stack:build`) or swarm (needs a Swarm and --registry)',
      )
        .env('SLIPWAY_DRIVER')
        .choices(DRIVERS)
        .default(D.driver),
    )
    .addOption(
      new Option('--registry <host:port>', 'registry the swarm driver pushes release images to and every host pulls from').env(
        'SLIPWAY_REGISTRY',
      ),
    )
    .addOption(new Option('--domain <domain>', 'apps are served at APP.DOMAIN').env('SLIPWAY_DOMAIN').default(D.domain))
    .addOption(new Option('--public-host <host>', 'host name printed in git remotes').env('SLIPWAY_PUBLIC_HOST'))
    .addOption(
      new Option('--api-domain <host>', 'the router serves the API and git over HTTP at this name too, on its plain and TLS ports')
        .env('SLIPWAY_API_DOMAIN')
        .default(D.apiDomain),
    )
    .addOption(
      new Option(
        '--api-cert <file>',
        "the API domain's certificate chain, PEM, leaf first (with --api-key); or acme: get and renew it from --acme-directory",
      ).env('SLIPWAY_API_CERT'),
    )
    .addOption(new Option('--api-key <file>', "the API domain's private key, PEM").env('SLIPWAY_API_KEY'))
    .addOption(
      new Option(
        '--bind <addrs>',
        'IP addresses SSH, HTTP and the router listen on, comma-separated (default: every IPv4 and IPv6 address)',
      ).env('SLIPWAY_BIND'),
    )
    .addOption(
      new Option('--extra-ca-bundle <file>', 'CA bundle handed to builds and apps (TLS-intercepting proxies)')
        .env('SLIPWAY_EXTRA_CA_BUNDLE')
        .default(defaultCa),
    )
    .addOption(
      new Option(
        '--acme-directory <url>',
        "ACME directory certificates come from (certs:auto); Let's Encrypt staging: https://acme-staging-v02.api.letsencrypt.org/directory",
      )
        .env('SLIPWAY_ACME_DIRECTORY')
        .default(D.acmeDirectory),
    )
    .addOption(
      new Option('--acme-email <email>', "the ACME account's contact: the CA's expiry and policy mail goes there").env(
        'SLIPWAY_ACME_EMAIL',
      ),
    )
    .addOption(new Option('--acme-eab-kid <kid>', 'external account binding key id, for CAs that ask for one').env('SLIPWAY_ACME_EAB_KID'))
    .addOption(
      new Option('--acme-eab-hmac-key <key>', 'external account binding HMAC key (base64url), with --acme-eab-kid').env(
        'SLIPWAY_ACME_EAB_HMAC_KEY',
      ),
    )
    .addOption(
      new Option('--keep-releases <n>', 'succeeded releases kept per app')
        .env('SLIPWAY_KEEP_RELEASES')
        .default(D.keepReleases)
        .argParser(Number),
    )
    .addOption(
      new Option('--health-timeout <seconds>', 'how long a new web process has to answer HTTP')
        .env('SLIPWAY_HEALTH_TIMEOUT')
        .default(D.healthTimeoutMs / 1000)
        .argParser(Number),
    )
    .addOption(
      new Option('--stop-grace <seconds>', 'SIGTERM to SIGKILL grace for old processes')
        .env('SLIPWAY_STOP_GRACE')
        .default(D.stopGraceMs / 1000)
        .argParser(Number),
    )
    .addOption(
      new Option('--build-keep-warm <seconds>', "how long a docker app's next build container waits for a push (0: none)")
        .env('SLIPWAY_BUILD_KEEP_WARM')
        .default(D.buildKeepWarmMs / 1000)
        .argParser(Number),
    )
    .addOption(
      new Option('--webhook-retry-ms <ms>', 'wait before a failed webhook delivery is retried; doubles each retry')
        .env('SLIPWAY_WEBHOOK_RETRY_MS')
        .default(D.webhookRetryMs)
        .argParser(Number),
    )
    .addOption(
      new Option(
        '--egress-allow <ranges>',
        'internal address ranges requests made for users may reach (artifact URLs, origins, buildpacks, webhooks), e.g. 10.0.0.0/8,127.0.0.1/32',
      )
        .env('SLIPWAY_EGRESS_ALLOW')
        .default(D.egress.allow.join(','))
        .argParser(allowList),
    )
    .addOption(
      new Option('--egress-connect-timeout <seconds>', 'connect timeout of those requests')
        .env('SLIPWAY_EGRESS_CONNECT_TIMEOUT')
        .default(D.egress.connectTimeoutMs / 1000)
        .argParser(positive),
    )
    .addOption(
      new Option('--egress-idle-timeout <seconds>', 'a transfer silent this long fails')
        .env('SLIPWAY_EGRESS_IDLE_TIMEOUT')
        .default(D.egress.idleTimeoutMs / 1000)
        .argParser(positive),
    )
    .addOption(
      new Option('--egress-total-timeout <seconds>', 'longest a fetch may take in all')
        .env('SLIPWAY_EGRESS_TOTAL_TIMEOUT')
        .default(D.egress.totalTimeoutMs / 1000)
        .argParser(positive),
    )
    .addOption(
      new Option('--max-upload-mb <mb>', 'largest artifact or source tarball the API accepts')
        .env('SLIPWAY_MAX_UPLOAD_MB')
        .default(D.maxUploadBytes / 1024 / 1024)
        .argParser(positive),
    )
    .addOption(
      new Option(
        '--guests <on|off>',
        'run apps in guests as their own users (root servers); off only for one trusted user, or to measure what guests cost',
      )
        .env('SLIPWAY_GUESTS')
        .choices(['on', 'off'])
        .default(D.guests ? 'on' : 'off'),
    )
    .addOption(
      new Option('--guest-uids <low-high>', 'uid range apps get their own user from (root servers)')
        .env('SLIPWAY_GUEST_UIDS')
        .default(D.guestUids.join('-')),
    )
    .addOption(
      new Option(
        '--metrics-token-file <file>',
        'a file holding the token Prometheus scrapes GET /metrics with (admins may scrape with their own token)',
      ).env('SLIPWAY_METRICS_TOKEN_FILE'),
    )
    .action(async (o) => {
      if (o.extraCaBundle && !fs.existsSync(o.extraCaBundle)) throw new Error(`--extra-ca-bundle ${o.extraCaBundle} does not exist`);
      if (!/^https:\/\/[^\s]+$/.test(o.acmeDirectory)) throw new Error(`--acme-directory ${o.acmeDirectory} is not an https:// URL`);
      if (Boolean(o.acmeEabKid) !== Boolean(o.acmeEabHmacKey)) throw new Error('--acme-eab-kid and --acme-eab-hmac-key go together');
      const server = await startServer({
        home: o.home,
        sshPort: o.sshPort,
        httpPort: o.httpPort,
        routerPort: o.routerPort,
        routerTlsPort: o.routerTlsPort,
        router: o.router,
        driver: o.driver,
        registry: o.registry,
        domain: o.domain,
        publicHost: o.publicHost,
        apiDomain: o.apiDomain || undefined,
        apiCert: o.apiCert,
        apiKey: o.apiKey,
        bind: o.bind,
        extraCaBundle: o.extraCaBundle,
        acme: {
          directory: o.acmeDirectory,
          email: o.acmeEmail,
          eab: o.acmeEabKid ? { kid: o.acmeEabKid, hmacKey: o.acmeEabHmacKey } : undefined,
        },
        keepReleases: o.keepReleases,
        healthTimeoutMs: o.healthTimeout * 1000,
        stopGraceMs: o.stopGrace * 1000,
        buildKeepWarmMs: o.buildKeepWarm * 1000,
        maxUploadBytes: Math.round(o.maxUploadMb * 1024 * 1024),
        webhookRetryMs: o.webhookRetryMs,
        metricsToken: o.metricsTokenFile ? metricsToken(o.metricsTokenFile) : undefined,
        guestUids: uidRange(o.guestUids),
        guests: o.guests === 'on',
        egress: {
          allow: typeof o.egressAllow === 'string' ? allowList(o.egressAllow) : o.egressAllow,
          connectTimeoutMs: o.egressConnectTimeout * 1000,
          idleTimeoutMs: o.egressIdleTimeout * 1000,
          totalTimeoutMs: o.egressTotalTimeout * 1000,
        },
      });
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        process.stdout.write(`-----> ${signal}: stopping Slipway\n`);
        server.close().then(
          () => process.exit(0),
          (err) => {
            process.stderr.write(`error while stopping: ${err}\n`);
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
    });
}

/** The scrape token: the file's one line, long enough not to be guessed. */
function metricsToken(file: string): string {
  const token = fs.readFileSync(file, 'utf8').trim();
  if (token.length < 16 || /\s/.test(token))
    throw new Error(`--metrics-token-file ${file} must hold one token of 16 or more characters, no spaces`);
  return token;
}
