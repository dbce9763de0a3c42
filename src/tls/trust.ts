import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import { pemBlocks } from './pem.js';

/** Debian's system bundle, where update-ca-certificates puts every trusted root. */
export const SYSTEM_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

const cache = new Map<string, { mtimeMs: number; certs: X509Certificate[] }>();

/**
 * The CAs a chain may end at besides a self-signed certificate in the file:
 * the system bundle and the server's `--extra-ca-bundle`. A bundle that is
 * missing or unreadable adds nothing (a host without ca-certificates still
 * accepts chains that end at their own root).
 */
export function trustedCas(extraBundle?: string): X509Certificate[] {
  return [SYSTEM_BUNDLE, extraBundle].filter((f): f is string => Boolean(f)).flatMap(readBundle);
}

function readBundle(file: string): X509Certificate[] {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    return [];
  }
  const hit = cache.get(file);
  if (hit && hit.mtimeMs === st.mtimeMs) return hit.certs;
  const certs: X509Certificate[] = [];
  for (const block of pemBlocksOf(file)) {
    if (block.label !== 'CERTIFICATE') continue;
    try {
      certs.push(new X509Certificate(block.pem));
    } catch {
      /* one broken entry does not make the rest untrusted */
    }
  }
  cache.set(file, { mtimeMs: st.mtimeMs, certs });
  return certs;
}

function pemBlocksOf(file: string) {
  try {
    return pemBlocks(fs.readFileSync(file, 'utf8'));
  } catch {
    return [];
  }
}

/** The `--extra-ca-bundle` file's text, for the ACME client's TLS to the directory; none when unset or unreadable. */
export function extraBundleText(file: string | undefined): string | undefined {
  if (!file) return undefined;
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}
