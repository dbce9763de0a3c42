/** What `trustEnv` puts in NODE_OPTIONS; another value there is the app's own. */
export const OPENSSL_CA = '--use-openssl-ca';

/**
 * How an app's processes trust the server's extra CA bundle (a complete one:
 * the system's CAs and a TLS-intercepting proxy's), under either driver.
 * OpenSSL's tools read SSL_CERT_FILE. Node is sent to the same file through
 * OpenSSL's store (`--use-openssl-ca`), which it reads at its first TLS
 * connection, rather than NODE_EXTRA_CA_CERTS, which it parses at every
 * start: 50-70 ms of each node process's boot here, on the way to every
 * deploy's health check. An app that sets NODE_OPTIONS itself (its value
 * replaces this one) gets NODE_EXTRA_CA_CERTS.
 */
export function trustEnv(ca: string, appNodeOptions: boolean): Record<string, string> {
  return appNodeOptions ? { NODE_EXTRA_CA_CERTS: ca, SSL_CERT_FILE: ca } : { NODE_OPTIONS: OPENSSL_CA, SSL_CERT_FILE: ca };
}
