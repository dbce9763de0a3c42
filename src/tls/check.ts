import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import tls from 'node:tls';
import { SlipwayError } from '../errors.js';
import { covers, dnsNames } from '../router/cert-names.js';
import { malformed, type CertificateBundle } from './pem.js';

/** A certificate that passed every check, ready to store and serve. */
export interface CheckedCertificate {
  /** PEM: the leaf, then the intermediates up to (not including) the root. */
  chain: string;
  key: string;
  /** subjectAltName DNS names. */
  names: string[];
  fingerprint: string;
  issuer: string;
  notBefore: number;
  notAfter: number;
}

export interface CheckOptions {
  bundle: CertificateBundle;
  /** Host names the certificate must cover: the app's custom domains. */
  domains: string[];
  /** CAs a chain may end at (system bundle, extra bundle), besides a self-signed certificate in the bundle. */
  trusted: X509Certificate[];
  /** Default: now. */
  now?: number;
  /**
   * The chain came from the CA itself over a verified connection (ACME): it
   * is complete as given, ending at an intermediate the CA chose, even when
   * its root is in no bundle of this server (a private or test CA).
   */
  fromCa?: boolean;
}

/** Longest chain followed; real ones have one or two intermediates. */
const MAX_DEPTH = 8;
/** Most certificates a file may hold: a leaf, its intermediates and perhaps a root; more is no chain anyone serves. */
export const MAX_CERTIFICATES = 10;
const ALLOWED_KEYS = 'allowed: RSA 2048-4096 bits, EC P-256 or P-384, Ed25519';

/**
 * The checks `certs:add` makes before anything is stored, each refusal one
 * line starting with what is wrong: malformed PEM, mismatched key, expired
 * (or not yet valid), missing intermediate, wrong name.
 */
export function checkCertificate(opts: CheckOptions): CheckedCertificate {
  const now = opts.now ?? Date.now();
  if (opts.bundle.certificates.length > MAX_CERTIFICATES) {
    throw refusal(
      'oversized chain',
      `the file holds ${opts.bundle.certificates.length} certificates; at most ${MAX_CERTIFICATES} are accepted`,
      "give the leaf and its intermediates only (your CA's full chain)",
    );
  }
  const certs = opts.bundle.certificates.map((pem, i) => parseCertificate(pem, i));
  const key = parseKey(opts.bundle.key);
  // Before anything uses them: every handshake pays for the key's size on the router's one thread.
  checkKeyType(key, 'the private key');
  certs.forEach((c, i) => checkKeyType(c.publicKey, `the key of certificate ${i + 1} (${subjectOf(c)})`));
  // The leaf is the certificate the key belongs to, wherever it is in the file.
  const leaf = certs.find((c) => c.checkPrivateKey(key));
  if (!leaf) {
    throw refusal(
      'mismatched key',
      `the private key does not belong to ${certs.length === 1 ? 'the certificate' : `any of the ${certs.length} certificates`} (${subjectOf(certs[0]!)})`,
      'give the key the certificate was made for: `openssl x509 -noout -pubkey -in cert.pem` and `openssl pkey -pubout -in key.pem` must print the same key',
    );
  }
  const path = chainOf(leaf, certs, opts.trusted, opts.fromCa);
  for (const c of path) {
    const from = Date.parse(c.validFrom);
    const to = Date.parse(c.validTo);
    const which = c === leaf ? 'the certificate' : `the intermediate ${subjectOf(c)}`;
    if (to <= now) throw refusal('expired', `${which} expired on ${day(to)}`, 'get a new certificate from your CA');
    if (from > now)
      throw refusal('not yet valid', `${which} is valid from ${day(from)} only`, "check the server's clock, or wait until then");
  }
  const names = dnsNames(leaf);
  const uncovered = opts.domains.filter((d) => !covers(leaf, d));
  if (uncovered.length) {
    throw refusal(
      'wrong name',
      `the certificate (for ${names.length ? names.join(', ') : 'no DNS name in its subjectAltName'}) does not cover ${uncovered.join(', ')}`,
      'get a certificate whose subjectAltName names every custom domain of the app (wildcards cover one label); browsers ignore the subject CN',
    );
  }
  const chain = path
    .filter((c) => c === leaf || !issued(c, c))
    .map((c) => c.toString())
    .join('');
  const keyPem = key.export({ type: 'pkcs8', format: 'pem' }) as string;
  // What the router will do with it: OpenSSL refuses some pairs the checks above let through (an RSA key under 2048 bits).
  try {
    tls.createSecureContext({ cert: chain, key: keyPem });
  } catch (err) {
    throw refusal(
      'unusable',
      `TLS cannot use this certificate and key: ${(err as Error).message}`,
      'get a certificate with an RSA key of 2048 bits or more, or an ECDSA P-256/P-384 key',
    );
  }
  return {
    chain,
    key: keyPem,
    names,
    fingerprint: leaf.fingerprint256,
    issuer: subjectOf(leaf, 'issuer'),
    notBefore: Date.parse(leaf.validFrom),
    notAfter: Date.parse(leaf.validTo),
  };
}

/**
 * The certificates from `leaf` up to a root: each next one taken from the
 * bundle, signed-checked; complete when one is self-signed, or is issued by
 * a trusted CA. Certificates in the bundle off that path are not served.
 */
function chainOf(leaf: X509Certificate, given: X509Certificate[], trusted: X509Certificate[], fromCa = false): X509Certificate[] {
  const path = [leaf];
  let cur = leaf;
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    if (issued(cur, cur)) return path;
    const next = given.find((c) => !path.includes(c) && issued(cur, c));
    if (next) {
      path.push(next);
      cur = next;
      continue;
    }
    if (trusted.some((ca) => issued(cur, ca))) return path;
    if (fromCa && path.length === given.length) return path;
    throw refusal(
      'missing intermediate',
      `the chain stops at ${subjectOf(cur)}: its issuer ${subjectOf(cur, 'issuer')} is neither in the file nor a trusted CA`,
      "append the intermediate certificate(s) to the certificate file, leaf first (your CA's full chain), or add a private root to the server's --extra-ca-bundle",
    );
  }
  throw refusal(
    'missing intermediate',
    `the chain is longer than ${MAX_DEPTH} certificates without reaching a root`,
    'give the leaf and its intermediates only',
  );
}

/**
 * Only keys TLS clients accept and the router can afford: a 16384-bit RSA key
 * costs every handshake a third of a second of the daemon's only thread.
 */
function checkKeyType(key: KeyObject, which: string): void {
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  const hint = 'make a new key and certificate, e.g. `openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes`';
  if (type === 'rsa') {
    const bits = details.modulusLength ?? 0;
    if (bits < 2048) throw refusal('weak key', `${which} is RSA ${bits} bits; ${ALLOWED_KEYS}`, hint);
    if (bits > 4096) throw refusal('oversized key', `${which} is RSA ${bits} bits; ${ALLOWED_KEYS}`, hint);
    return;
  }
  if (type === 'ec' && (details.namedCurve === 'prime256v1' || details.namedCurve === 'secp384r1')) return;
  if (type === 'ed25519') return;
  const what = type === 'ec' ? `EC ${details.namedCurve ?? 'with an unnamed curve'}` : (type ?? 'of an unknown type');
  throw refusal('unsupported key', `${which} is ${what}; ${ALLOWED_KEYS}`, hint);
}

/** `parent` issued `child`: names match and its key verifies the signature. */
function issued(child: X509Certificate, parent: X509Certificate): boolean {
  try {
    return child.checkIssued(parent) && child.verify(parent.publicKey);
  } catch {
    return false;
  }
}

function parseCertificate(pem: string, index: number): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw malformed(`certificate ${index + 1} in the file cannot be read (${(err as Error).message})`);
  }
}

function parseKey(pem: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (err) {
    throw malformed(`the private key cannot be read (${(err as Error).message})`);
  }
}

/** `CN=www.example.com` or, without a CN, the whole name on one line. */
export function subjectOf(cert: X509Certificate, which: 'subject' | 'issuer' = 'subject'): string {
  const lines = cert[which].split('\n').filter(Boolean);
  const cn = lines.find((l) => l.startsWith('CN='));
  const o = lines.find((l) => l.startsWith('O='));
  return [cn, o].filter(Boolean).join(', ') || lines.join(', ') || '(no name)';
}

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

const refusal = (what: string, detail: string, hint: string) =>
  new SlipwayError('certificate_refused', `${what}: ${detail}`, { status: 422, hint });
