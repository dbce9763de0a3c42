import { createRequire } from 'node:module';
import type Acme from 'acme-client';

let lib: typeof Acme | undefined;

/**
 * acme-client, loaded the first time a certificate is ordered: with its
 * X.509 and ASN.1 libraries it is most of a second of the daemon's start-up
 * and tens of megabytes of memory, and most servers never order one.
 */
export function acmeLib(): typeof Acme {
  lib ??= createRequire(import.meta.url)('acme-client') as typeof Acme;
  return lib;
}
