import type { X509Certificate } from 'node:crypto';

// Here, below tls/, because the router decides which hosts a certificate is offered for; certs:add asks the same question.

/**
 * RFC 6125 as browsers apply it: only subjectAltName DNS names count (never
 * the subject CN), and a wildcard is a whole left-most label standing for
 * exactly one label (`*.example.com` covers `www.example.com`, not
 * `example.com` nor `a.b.example.com`; `w*.example.com` covers nothing).
 */
const MATCH = {
  subject: 'never',
  wildcards: true,
  partialWildcards: false,
  multiLabelWildcards: false,
  singleLabelSubdomains: false,
} as const;

/** True when the certificate is valid for `host` (lowercase, no trailing dot). */
export function covers(cert: X509Certificate, host: string): boolean {
  return cert.checkHost(host, MATCH) !== undefined;
}

/** The certificate's subjectAltName DNS names, as written in it. */
export function dnsNames(cert: X509Certificate): string[] {
  const san = cert.subjectAltName ?? '';
  const names: string[] = [];
  for (const part of san.split(/,\s*/)) {
    const m = /^DNS:(.+)$/.exec(part.trim());
    if (m) names.push(m[1]!.replace(/^"(.*)"$/, '$1').toLowerCase());
  }
  return names;
}
