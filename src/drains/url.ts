import { checkFetchUrlAtSet, checkLiteralHost, egressError, type Setter, type Target } from '../egress/index.js';
import { MAX_URL_LENGTH } from '../notify/url.js';

/** How a drain ships: RFC 5424 over TCP (plain or TLS), or logplex batches over HTTP(S). */
export type DrainKind = 'syslog' | 'syslog+tls' | 'https' | 'http';

export interface CheckedDrainUrl {
  kind: DrainKind;
  /** Normalised; may hold a token. */
  url: string;
  /** Fit to list: a token in the userinfo or the query is masked. */
  shown: string;
  /** True when `url` holds a token (userinfo or a query): it is then stored sealed. */
  secret: boolean;
}

const KINDS: Record<string, DrainKind> = { 'syslog:': 'syslog', 'syslog+tls:': 'syslog+tls', 'https:': 'https', 'http:': 'http' };
const HINT = 'give syslog+tls://HOST:PORT, syslog://HOST:PORT or an https:// URL';

/** The egress target named in refusals. */
export const drainTarget = (url: string): Target => ({ setting: 'drain', url });

/**
 * A drain URL as a user gives it, checked when set: its shape (see
 * parseDrainUrl), and a literal internal address is refused now unless the
 * egress policy allows its range; a host name is checked each time it is
 * resolved (the same rule as webhooks and every other outgoing request).
 */
export function checkDrainUrl(raw: string, who: Setter): CheckedDrainUrl {
  const checked = parseDrainUrl(raw);
  const target = drainTarget(checked.shown);
  if (checked.kind === 'http' || checked.kind === 'https') checkFetchUrlAtSet(checked.url, target, who, { file: false });
  else checkLiteralHost(who.settings, new URL(checked.url).hostname, target);
  return checked;
}

/** The scheme, a host and (for syslog) a port and no path: what a drain URL must have, whoever sets it. */
export function parseDrainUrl(raw: string): CheckedDrainUrl {
  const target = drainTarget(raw.length > 200 ? `${raw.slice(0, 197)}...` : raw);
  if (raw.length > MAX_URL_LENGTH) throw egressError(target, `is longer than ${MAX_URL_LENGTH} characters`, HINT);
  // The URL parser would quietly drop or encode these; a URL with them is a typo or an attack.
  if (raw.startsWith('-') || /[\s\x00-\x1f\x7f]/.test(raw)) throw egressError(target, 'contains spaces or control characters', HINT);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw egressError(target, 'is not a URL', HINT);
  }
  const shown = maskUrl(url.href);
  const masked = drainTarget(shown);
  const kind = KINDS[url.protocol];
  if (!kind) throw egressError(masked, `is a ${url.protocol.replace(/:$/, '')} URL; drains take syslog, syslog+tls and http(s)`, HINT);
  if (!url.hostname) throw egressError(masked, 'names no host', HINT);
  if (kind === 'syslog' || kind === 'syslog+tls') {
    if (!url.port) throw egressError(masked, 'names no port', `add the port, like ${kind}://${url.hostname}:6514`);
    if ((url.pathname && url.pathname !== '/') || url.search || url.hash)
      throw egressError(masked, 'has a path or a query; a syslog drain is HOST:PORT only', HINT);
  }
  return { kind, url: url.href, shown, secret: Boolean(url.username || url.password || url.search) };
}

/** The URL with its userinfo and every query value masked. */
export function maskUrl(raw: string): string {
  const url = new URL(raw);
  if (url.username) url.username = '***';
  if (url.password) url.password = '***';
  if (url.search) {
    const masked = [...url.searchParams.keys()].map((k) => `${encodeURIComponent(k)}=***`).join('&');
    url.search = `?${masked}`;
  }
  return url.href;
}

/** What `drains:remove` compares a given URL by. */
export function sameUrl(a: string, b: string): boolean {
  try {
    return new URL(a).href === new URL(b).href;
  } catch {
    return false;
  }
}
