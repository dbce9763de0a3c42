import net from 'node:net';
import { parseGitRemote } from './git.js';
import { checkAddress, egressError, refuseLocal, type EgressSettings, type Target } from './policy.js';

/** Who sets a value, and under which server settings: what a set-time check needs. */
export interface Setter {
  admin: boolean;
  settings: EgressSettings;
}

/** A literal address is checked when set; a host name is checked (resolved) each time it is used. */
export function checkLiteralHost(settings: EgressSettings, host: string, target: Target): void {
  const bare = host.replace(/^\[|\]$/g, '');
  if (net.isIP(bare)) checkAddress(settings, bare, target);
}

/** One URL of `artifact_urls` (or a webhook, without `file`): http, https, and file for admins. */
export function checkFetchUrlAtSet(raw: string, target: Target, who: Setter, opts: { file: boolean }): void {
  const schemes = opts.file ? 'http, https or (for admins) file' : 'http or https';
  if (raw.startsWith('-') || /[\0\s]/.test(raw)) throw egressError(target, `is not an ${schemes} URL`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw egressError(target, 'is not a URL', `give an absolute ${schemes} URL`);
  }
  if (url.protocol === 'file:' && opts.file) return refuseLocal(target, who.admin);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw egressError(target, `is not an ${schemes} URL`);
  if (!url.hostname) throw egressError(target, 'names no host');
  checkLiteralHost(who.settings, url.hostname, target);
}

/** A git URL (`origin`, a buildpack): http, https, git, ssh; file URLs and absolute paths for admins. */
export function checkGitUrlAtSet(raw: string, target: Target, who: Setter): void {
  const remote = parseGitRemote(raw, target);
  if (remote.scheme === 'file') return refuseLocal(target, who.admin);
  checkLiteralHost(who.settings, remote.host, target);
}
