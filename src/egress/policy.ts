import dns from 'node:dns';
import net from 'node:net';
import os from 'node:os';
import { SlipwayError } from '../errors.js';
import { CLASS_TEXT, canonicalIp, classify, parseIp } from './addresses.js';
import { inCidr, parseAllowList, type Cidr } from './cidr.js';

/** The server's egress settings (`slipway server --egress-*`). Plain data, so it travels in settings objects. */
export interface EgressSettings {
  /** Ranges an admin allowed past the address rule (`--egress-allow 10.0.0.0/8,127.0.0.1/32`). */
  allow: readonly string[];
  /** Until the TCP (and TLS) connection is up. */
  connectTimeoutMs: number;
  /** Longest silence of a connection: no answer, or a transfer that stalls. */
  idleTimeoutMs: number;
  /** Whole transfer, first connect to last byte, redirects included. */
  totalTimeoutMs: number;
  /** Largest body read (the server's max upload size). */
  maxBytes: number;
}

export const DEFAULT_EGRESS: EgressSettings = {
  allow: [],
  connectTimeoutMs: 10_000,
  idleTimeoutMs: 30_000,
  totalTimeoutMs: 10 * 60_000,
  maxBytes: 1024 ** 3,
};

/** What is being fetched, for messages: the setting it came from and the URL as the user wrote it. */
export interface Target {
  /** `artifact_urls`, `origin`, `buildpack_url`, `webhook 3` … */
  setting: string;
  url: string;
}

/** A refusal or failure of an outgoing request: one line naming the setting, the URL and the rule. */
export function egressError(target: Target, what: string, hint?: string): SlipwayError {
  return new SlipwayError('egress_refused', `${target.setting}: ${shownUrl(target.url)} ${what}`, { status: 422, hint });
}

/** A URL fit for a message: a password in it is masked, and it is cut at 200 characters. */
export function shownUrl(raw: string): string {
  let text = raw;
  try {
    const url = new URL(raw);
    if (url.password) {
      url.password = '***';
      text = url.href;
    }
  } catch {
    // Not a URL (a path, an scp-like git address): shown as written.
  }
  return text.length > 200 ? `${text.slice(0, 197)}...` : text;
}

/** File URLs and host paths are admin-only: refused unless an admin set this value. */
export function refuseLocal(target: Target, trusted: boolean): void {
  if (trusted) return;
  throw egressError(
    target,
    'names a file or directory on the server; only an admin may set file URLs and host paths',
    'use an http(s) URL (git or ssh for a repository), or ask an admin of this Slipway server to set it',
  );
}

const allowCache = new WeakMap<readonly string[], Cidr[]>();
function allowed(settings: EgressSettings): Cidr[] {
  let list = allowCache.get(settings.allow);
  if (!list) allowCache.set(settings.allow, (list = parseAllowList(settings.allow)));
  return list;
}

/** Every address of this host's interfaces: a request to them reaches the server itself. */
function ownAddresses(): Set<string> {
  const own = new Set<string>();
  for (const list of Object.values(os.networkInterfaces())) for (const i of list ?? []) own.add(canonicalIp(i.address));
  return own;
}

/**
 * The address rule: loopback, private, link-local, multicast, unspecified,
 * CGNAT and reserved addresses (also in IPv4-mapped and other IPv6 forms) and
 * the server's own addresses are refused, unless an admin allowed their range.
 */
export function checkAddress(settings: EgressSettings, address: string, target: Target): void {
  const bytes = parseIp(address);
  if (!bytes) throw egressError(target, `resolves to ${JSON.stringify(address)}, which is not an address`);
  if (allowed(settings).some((c) => inCidr(bytes, c))) return;
  const kind = classify(bytes);
  const why = kind ? CLASS_TEXT[kind] : ownAddresses().has(canonicalIp(address)) ? "one of this server's own addresses" : undefined;
  if (!why) return;
  const canonical = canonicalIp(address);
  const range = canonical.includes('.') ? `${canonical}/32` : `${address.replace(/^\[|\]$/g, '').replace(/%.*$/, '')}/128`;
  throw egressError(
    target,
    `resolves to ${address}, ${why}; only an admin may allow it (slipway server --egress-allow ${range})`,
    'use a public address, or ask an admin of this Slipway server to allow the range',
  );
}

/**
 * Resolves a host name and checks every address it has: one forbidden
 * address refuses the host (a name must not mix public and internal ones).
 */
export async function resolveChecked(settings: EgressSettings, host: string, target: Target): Promise<dns.LookupAddress[]> {
  const bare = host.replace(/^\[|\]$/g, '');
  const family = net.isIP(bare);
  if (family) {
    checkAddress(settings, bare, target);
    return [{ address: bare, family }];
  }
  if (!host) throw egressError(target, 'names no host');
  const addresses = await withTimeout(dns.promises.lookup(bare, { all: true, verbatim: true }), settings.connectTimeoutMs).catch(
    (err: NodeJS.ErrnoException) => {
      throw egressError(target, `could not be resolved: ${err.code ?? err.message}`, `check the host name ${bare}`);
    },
  );
  if (!addresses.length) throw egressError(target, 'could not be resolved: no address');
  for (const a of addresses) checkAddress(settings, a.address, target);
  return addresses;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;

/**
 * A `lookup` for http.request that checks what it resolves, so the address
 * connected to is the address checked (no second resolution to rebind).
 */
export function checkedLookup(settings: EgressSettings, target: Target) {
  return (hostname: string, options: dns.LookupOptions, callback: LookupCallback): void => {
    resolveChecked(settings, hostname, target).then(
      (list) => {
        const usable = options.family ? list.filter((a) => a.family === options.family) : list;
        if (!usable.length)
          return callback(Object.assign(new Error(`no IPv${options.family} address for ${hostname}`), { code: 'ENOTFOUND' }), '');
        if (options.all) callback(null, usable);
        else callback(null, usable[0]!.address, usable[0]!.family);
      },
      (err: Error) => callback(err as NodeJS.ErrnoException, ''),
    );
  };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${ms / 1000}s`), { code: 'ETIMEOUT' })), ms);
  });
  return Promise.race([p, expired]).finally(() => clearTimeout(timer));
}
