// Router benchmark: the same tiny app, straight and through each router engine,
// against a hand-written nginx reverse proxy. Prints one JSON document on stdout;
// progress goes to stderr.
//
//   npx tsx bench/router.ts [--duration 10] [--warmup 2] [--rounds 1]
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BuiltinRouter } from '../src/router/builtin.js';
import { NginxRouter } from '../src/router/nginx.js';
import { PlatformMetrics } from '../src/metrics/platform-metrics.js';
import { findNginx } from '../src/router/nginx-process.js';
import { startPlainNginx, startTinyApp, waitForBody } from './lib/proxy-targets.js';
import { median } from './lib/stats.js';
import { selfSignedCertificate } from './lib/tls-cert.js';
import { runWrk, wrkArgs, type WrkOptions, type WrkResult } from './lib/wrk.js';

const HOST = 'bench.localhost';
const THREADS = 2;
const CONNECTIONS = 32;
/** The TLS rows' server name: wrk sends the URL's host as SNI, so it must resolve to loopback. */
const TLS_HOST = 'localhost';
const TARGETS = ['direct', 'builtin', 'nginx_engine', 'plain_nginx', 'builtin_tls', 'nginx_engine_tls', 'plain_nginx_tls'] as const;
type Target = (typeof TARGETS)[number];
const isTls = (t: Target) => t.endsWith('_tls');
/** Each row is compared with plain nginx doing the same: HTTP with HTTP, TLS with TLS. */
const yardstickOf = (t: Target): Target => (isTls(t) ? 'plain_nginx_tls' : 'plain_nginx');

const progress = (msg: string): void => void process.stderr.write(`bench: ${msg}\n`);

interface Options {
  durationS: number;
  warmupS: number;
  rounds: number;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '2' },
      rounds: { type: 'string', default: '1' },
    },
  });
  const durationS = Number(values.duration);
  const warmupS = Number(values.warmup);
  const rounds = Number(values.rounds);
  if (!Number.isInteger(durationS) || durationS < 1)
    throw new Error(`--duration must be a positive number of seconds, got "${values.duration}"`);
  if (!Number.isInteger(warmupS) || warmupS < 0) throw new Error(`--warmup must be a number of seconds, got "${values.warmup}"`);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer, got "${values.rounds}"`);
  return { durationS, warmupS, rounds };
}

function assertTools(): string {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
  } catch (err) {
    // wrk --version exits 1 after printing its version; only a missing binary is a problem.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('wrk is not installed: apt-get install -y wrk');
  }
  try {
    return findNginx();
  } catch {
    throw new Error('nginx is not installed: apt-get install -y nginx');
  }
}

function nginxVersion(bin: string): string {
  // `nginx -v` prints on stderr.
  const out = spawnSync(bin, ['-v'], { encoding: 'utf8' });
  return /nginx\/([\w.]+)/.exec(`${out.stderr}${out.stdout}`)?.[1] ?? 'unknown';
}

type Row = WrkResult & { ratio_to_plain_nginx: { rps: number; p99: number }; rounds?: WrkResult[] };

/** Several rounds: the median of each figure (errors summed), every round kept as a sample. */
function combine(runs: WrkResult[]): WrkResult & { rounds?: WrkResult[] } {
  if (runs.length === 1) return runs[0]!;
  const pick = (f: (r: WrkResult) => number) => median(runs.map(f));
  return {
    rps: pick((r) => r.rps),
    p50_ms: pick((r) => r.p50_ms),
    p99_ms: pick((r) => r.p99_ms),
    requests: pick((r) => r.requests),
    errors: runs.reduce((n, r) => n + r.errors, 0),
    rounds: runs,
  };
}

async function main(): Promise<number> {
  let opts: Options;
  let nginxBin: string;
  try {
    opts = parseOptions();
    nginxBin = assertTools();
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n`);
    return 1;
  }
  // The same worker count for both nginx setups, so they differ only in their config.
  const workerProcesses = Math.min(os.availableParallelism(), 4);
  const stops: Array<() => Promise<void>> = [];
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-nginx-engine-'));
  stops.push(async () => fs.rmSync(stateDir, { recursive: true, force: true }));
  const cleanup = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };
  const onSignal = (): void => void cleanup().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    progress('starting the app');
    const app = await startTinyApp();
    stops.push(app.stop);
    const route = { app: 'bench', hosts: [HOST, TLS_HOST], backends: [{ id: 'bench.v1.web.1', host: '127.0.0.1', port: app.port }] };
    const cert = selfSignedCertificate(stateDir, TLS_HOST);
    const certificates = [{ app: 'bench', chain: cert.chain, key: cert.key }];

    // Both engines account for requests as in the daemon: metrics for every request, and
    // drain lines asked for (the bench's app has no drain, the common case).
    const metrics = new PlatformMetrics();
    const account = (engine: BuiltinRouter | NginxRouter) => {
      engine.onAccess = () => undefined;
      engine.accessWanted = () => false;
    };

    progress('starting the built-in router');
    const builtin = new BuiltinRouter({ requests: metrics });
    account(builtin);
    await builtin.listen(0, '127.0.0.1');
    stops.push(() => builtin.close());
    await builtin.listenTls(0, '127.0.0.1');
    await builtin.setRoute(route);
    await builtin.setCertificates(certificates);

    progress('starting the nginx engine');
    const engine = new NginxRouter({ stateDir, workerProcesses, log: (m) => progress(m), requests: metrics });
    account(engine);
    await engine.listen(0, '127.0.0.1');
    stops.push(() => engine.close());
    await engine.listenTls(0, '127.0.0.1');
    await engine.setRoute(route);
    await engine.setCertificates(certificates);

    progress('starting the plain nginx');
    const plain = await startPlainNginx(app.port, workerProcesses, { certKeyFile: cert.file });
    stops.push(plain.stop);

    const ports: Record<Target, number> = {
      direct: app.port,
      builtin: builtin.address()!.port,
      nginx_engine: engine.address()!.port,
      plain_nginx: plain.port,
      builtin_tls: builtin.tlsAddress()!.port,
      nginx_engine_tls: engine.tlsAddress()!.port,
      plain_nginx_tls: plain.tlsPort,
    };
    const runs = Object.fromEntries(TARGETS.map((t) => [t, [] as WrkResult[]])) as Record<Target, WrkResult[]>;
    // Rounds interleave the targets, so drift on the machine hits all of them alike.
    for (let round = 1; round <= opts.rounds; round++) {
      for (const target of TARGETS) {
        const host = isTls(target) ? TLS_HOST : HOST;
        await waitForBody(ports[target], host, 'ok', 10_000, isTls(target));
        const url = isTls(target) ? `https://${TLS_HOST}:${ports[target]}/` : `http://127.0.0.1:${ports[target]}/`;
        const base: WrkOptions = { url, host, threads: THREADS, connections: CONNECTIONS, durationS: opts.durationS };
        if (opts.warmupS > 0) await runWrk({ ...base, durationS: opts.warmupS });
        const r = await runWrk(base);
        runs[target].push(r);
        progress(
          `round ${round}/${opts.rounds} ${target}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50_ms.toFixed(2)}ms, p99 ${r.p99_ms.toFixed(2)}ms${r.errors ? `, ${r.errors} errors` : ''}`,
        );
      }
    }
    const results = Object.fromEntries(TARGETS.map((t) => [t, combine(runs[t])])) as Record<Target, ReturnType<typeof combine>>;

    const round2 = (n: number) => Math.round(n * 100) / 100;
    const rows = Object.fromEntries(
      TARGETS.map((t): [Target, Row] => {
        const r = results[t];
        const yard = results[yardstickOf(t)];
        return [
          t,
          {
            ...r,
            p50_ms: round2(r.p50_ms),
            p99_ms: round2(r.p99_ms),
            ratio_to_plain_nginx: { rps: round2(r.rps / yard.rps), p99: round2(r.p99_ms / yard.p99_ms) },
          },
        ];
      }),
    );
    const doc = {
      bench: 'router',
      wrk: `wrk ${wrkArgs({ url: 'URL', host: HOST, threads: THREADS, connections: CONNECTIONS, durationS: opts.durationS }).join(' ')}`,
      warmup_s: opts.warmupS,
      rounds: opts.rounds,
      load_average_1m: Math.round(os.loadavg()[0]! * 100) / 100,
      app: "node:http server answering 'ok', in its own process",
      accounting: "both engines report every request to the daemon's metrics (PlatformMetrics), as in a server; the app has no drain",
      tls: `*_tls rows: HTTPS to ${TLS_HOST} (SNI) with one self-signed P-256 certificate, HTTP/1.1 keep-alive; ratios against plain_nginx_tls`,
      machine: {
        cpus: os.availableParallelism(),
        node: process.version,
        nginx: nginxVersion(nginxBin),
        nginx_worker_processes: workerProcesses,
      },
      results: rows,
    };
    process.stdout.write(JSON.stringify(doc, null, 2) + '\n');
    const failed = TARGETS.filter((t) => results[t].errors > 0);
    if (failed.length) {
      progress(`errors during the run (${failed.join(', ')}): the numbers are suspect`);
      return 1;
    }
    return 0;
  } catch (err) {
    process.stderr.write(`bench: failed: ${(err as Error).stack ?? err}\n`);
    return 1;
  } finally {
    progress('cleaning up');
    await cleanup();
  }
}

process.exitCode = await main();
