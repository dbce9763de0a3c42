import fs from 'node:fs';
import { SlipwayError, invalid } from '../errors.js';
import { checkCertificate, type CheckedCertificate } from './check.js';
import { splitBundle } from './pem.js';
import { trustedCas } from './trust.js';

/**
 * The certificate the server's own name (`--api-domain`) is served with: a
 * chain (leaf first) and its key, PEM. Given files today; an ACME-issued
 * pair (acme's `issue({domains: [apiDomain], …})` → chain + key) is handed
 * over the same way, through PlatformRouter.setPlatformCertificate.
 */
export interface PlatformCertificate {
  chain: string;
  key: string;
}

export interface PlatformCertFiles {
  /** `--api-cert`: the chain, leaf first, PEM. */
  certFile: string;
  /** `--api-key`: its private key, PEM. */
  keyFile: string;
  /** `--api-domain`: the name the certificate must cover. */
  domain: string;
  /** `--extra-ca-bundle`: private roots the chain may end at. */
  extraCaBundle?: string;
  now?: number;
}

/**
 * Reads and checks `--api-cert`/`--api-key` with the rules of `certs:add`
 * (the key matches, the chain is complete, it covers the API domain, it is
 * not expired, an acceptable key): a refusal stops the server's start with
 * one line naming the flag.
 */
export function loadPlatformCertificate(opts: PlatformCertFiles): CheckedCertificate {
  const read = (file: string, flag: string) => {
    try {
      return fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw invalid(`${flag} ${file} cannot be read (${(err as NodeJS.ErrnoException).code})`, `give the path of a PEM file`);
    }
  };
  const text = `${read(opts.certFile, '--api-cert')}\n${read(opts.keyFile, '--api-key')}`;
  try {
    return checkCertificate({ bundle: splitBundle(text), domains: [opts.domain], trusted: trustedCas(opts.extraCaBundle), now: opts.now });
  } catch (err) {
    if (!(err instanceof SlipwayError)) throw err;
    throw new SlipwayError(err.code, `--api-cert ${opts.certFile}: ${err.message}`, { status: err.status, hint: err.hint, cause: err });
  }
}
