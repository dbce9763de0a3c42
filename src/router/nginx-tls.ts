import { createHash, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { covers } from './cert-names.js';
import type { AppCertificate, Route } from './engine.js';
import { certFileName, type AppTls } from './nginx-config.js';

/** An app's certificate as the nginx engine keeps it: one file (chain, then key), named by its content. */
export interface NginxCert {
  leaf: X509Certificate;
  redirect: boolean;
  hstsMaxAge: number;
  /** `certFileName(sha256)`: what the config names. */
  file: string;
  sha256: string;
}

/** `STATE/certs`: beside `live/` and `candidate/`, so one relative path serves both. */
export const certsDir = (stateDir: string): string => path.join(stateDir, 'certs');

/**
 * Writes each certificate's file (0600: it holds the private key; nginx's
 * master reads it as the server's user, workers never do) unless a file
 * with the same content exists. Files are never rewritten, so a config that
 * names one always finds what it was tested with.
 */
export function writeCertFiles(stateDir: string, certs: AppCertificate[], log: (msg: string) => void): Map<string, NginxCert> {
  const dir = certsDir(stateDir);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const out = new Map<string, NginxCert>();
  for (const c of certs) {
    let leaf: X509Certificate;
    try {
      leaf = new X509Certificate(c.chain);
      // What nginx -t would refuse (a key that does not match, one too weak for Debian's OpenSSL
      // security level 2) is left out for its app alone: one bad stored certificate must not fail
      // every reload, nor the daemon's start. Nothing of it is written to certs/ either.
      tls.createSecureContext({ cert: c.chain, key: c.key, ciphers: 'DEFAULT@SECLEVEL=2' });
    } catch (err) {
      log(`router: the certificate of ${c.app} cannot be used, its hosts get no TLS: ${(err as Error).message}`);
      continue;
    }
    const text = `${c.chain.trimEnd()}\n${c.key.trimEnd()}\n`;
    const sha256 = createHash('sha256').update(text).digest('hex');
    const file = path.join(dir, `${sha256}.pem`);
    if (!fs.existsSync(file)) {
      const tmp = `${file}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, text, { mode: 0o600 });
      fs.renameSync(tmp, file);
    }
    out.set(c.app, { leaf, file: certFileName(sha256), sha256, redirect: c.redirect === true, hstsMaxAge: c.hstsMaxAge ?? 0 });
  }
  return out;
}

/** The app's TLS server: its hosts the certificate covers, or none. */
export function tlsFor(
  route: Route,
  cert: NginxCert | undefined,
  tls: { port: number; directives: string[] } | undefined,
): AppTls | undefined {
  if (!cert || !tls) return undefined;
  const hosts = route.hosts.filter((h) => covers(cert.leaf, h));
  return hosts.length
    ? { listen: tls.directives, hosts, file: cert.file, redirectPort: cert.redirect ? tls.port : undefined, hstsMaxAge: cert.hstsMaxAge }
    : undefined;
}

/** Deletes certificate files no current certificate uses (after a reload that stopped using them). */
export function removeUnusedCertFiles(stateDir: string, certs: Map<string, NginxCert>): void {
  const used = new Set([...certs.values()].map((c) => `${c.sha256}.pem`));
  let files: string[];
  try {
    files = fs.readdirSync(certsDir(stateDir));
  } catch {
    return;
  }
  for (const f of files) if (!used.has(f)) fs.rmSync(path.join(certsDir(stateDir), f), { force: true });
}
