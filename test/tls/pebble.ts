import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../e2e/harness.js';
import { until } from '../support/wait.js';

/**
 * Let's Encrypt's test CA, Debian's `pebble`, on loopback ports, with
 * `pebble-challtestsrv` as its DNS answering 127.0.0.1 for every name. Facts
 * this relies on: the package ships no TLS certificate (one is made here with
 * openssl), pebble makes a new root at every start (`root()` fetches it from
 * the management port), and it validates HTTP-01 on `httpPort`.
 */
export interface Pebble {
  /** The ACME directory URL. */
  directory: string;
  /** PEM of pebble's own TLS certificate, to trust its API. */
  apiCa: string;
  /** PEM of the root its certificates chain to (new at every start). */
  root(): Promise<string>;
  /** Stops the CA alone (its DNS stays): the directory's port refuses connections. */
  pause(): Promise<void>;
  /** Starts it again on the same ports and TLS certificate (a new root, and no accounts or orders). */
  resume(): Promise<void>;
  stop(): Promise<void>;
}

export interface PebbleOptions {
  /** Where its VA fetches HTTP-01 answers: the router's port. */
  httpPort: number;
  /** Lifetime of the certificates it issues, in seconds (pebble's default is years). */
  validitySeconds?: number;
  /** Names it refuses to issue for (`domainBlocklist`). */
  blocklist?: string[];
  /** External account binding required, with this key id and base64url HMAC key. */
  eab?: { kid: string; hmacKey: string };
}

export async function startPebble(opts: PebbleOptions): Promise<Pebble> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-pebble-'));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  const made = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '2',
      '-subj',
      '/CN=pebble',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ],
    { encoding: 'utf8' },
  );
  if (made.status !== 0) throw new Error(`openssl: ${made.stderr}`);
  const [api, management, dns, dnsManagement, tlsPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const config = path.join(dir, 'pebble-config.json');
  fs.writeFileSync(
    config,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${api}`,
        managementListenAddress: `127.0.0.1:${management}`,
        certificate: cert,
        privateKey: key,
        httpPort: opts.httpPort,
        tlsPort,
        ocspResponderURL: '',
        externalAccountBindingRequired: Boolean(opts.eab),
        ...(opts.eab ? { externalAccountMACKeys: { [opts.eab.kid]: opts.eab.hmacKey } } : {}),
        ...(opts.validitySeconds ? { certificateValidityPeriod: opts.validitySeconds } : {}),
        ...(opts.blocklist ? { domainBlocklist: opts.blocklist } : {}),
      },
    }),
  );
  const procs: ChildProcess[] = [];
  const output: string[] = [];
  const run = (bin: string, args: string[], env: NodeJS.ProcessEnv = {}) => {
    const p = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    p.stdout!.on('data', (d) => output.push(String(d)));
    p.stderr!.on('data', (d) => output.push(String(d)));
    procs.push(p);
    return p;
  };
  const end = (p: ChildProcess) =>
    p.exitCode === null && p.signalCode === null ? new Promise((r) => (p.once('exit', r), p.kill('SIGTERM'))) : undefined;
  const stop = async () => {
    await Promise.all(procs.map(end));
    fs.rmSync(dir, { recursive: true, force: true });
  };
  run('pebble-challtestsrv', [
    '-defaultIPv4',
    '127.0.0.1',
    '-defaultIPv6',
    '',
    '-dns01',
    `127.0.0.1:${dns}`,
    '-http01',
    '',
    '-https01',
    '',
    '-tlsalpn01',
    '',
    '-management',
    `127.0.0.1:${dnsManagement}`,
  ]);
  const startCa = () =>
    run('pebble', ['-config', config, '-dnsserver', `127.0.0.1:${dns}`], { PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0' });
  let ca = startCa();
  const apiCa = fs.readFileSync(cert, 'utf8');
  const directory = `https://127.0.0.1:${api}/dir`;
  const ready = () =>
    until('pebble answers its directory', async () => (await get(directory, apiCa).catch(() => undefined))?.status === 200, 20_000);
  try {
    await ready();
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n${output.join('')}`);
  }
  return {
    directory,
    apiCa,
    root: async () => (await get(`https://127.0.0.1:${management}/roots/0`, apiCa)).body,
    pause: async () => void (await end(ca)),
    resume: async () => {
      ca = startCa();
      await ready();
    },
    stop,
  };
}

function get(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca, agent: false }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}
