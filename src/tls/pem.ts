import { invalid } from '../errors.js';

/** One `-----BEGIN LABEL-----` … `-----END LABEL-----` block, re-emitted in canonical form. */
export interface PemBlock {
  label: string;
  pem: string;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g;
const BASE64 = /^[A-Za-z0-9+/=\s]*$/;
/** Encrypted PEM keys carry headers (`Proc-Type:`, `DEK-Info:`) before the base64. */
const HEADER = /^[A-Za-z-]+:.*$/gm;

/** Every PEM block of `text`, in order; text between blocks (openssl's `subject=` lines) is ignored. */
export function pemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const m of text.matchAll(BLOCK)) {
    const body = m[2]!.replace(HEADER, '');
    if (!BASE64.test(body)) throw malformed(`the ${m[1]} block is not base64`);
    blocks.push({ label: m[1]!, pem: `-----BEGIN ${m[1]}-----\n${m[2]!.trim().replace(/\r/g, '')}\n-----END ${m[1]}-----\n` });
  }
  return blocks;
}

export interface CertificateBundle {
  /** CERTIFICATE blocks, in the order given. */
  certificates: string[];
  /** The one private key block. */
  key: string;
}

/**
 * Splits what a user gave — the certificate file and the key file, or both
 * in one text — into certificates and the private key. Exactly one key.
 */
export function splitBundle(text: string): CertificateBundle {
  const blocks = pemBlocks(text);
  if (!blocks.length) throw malformed('no PEM block (-----BEGIN CERTIFICATE-----) was found');
  const certificates = blocks.filter((b) => b.label === 'CERTIFICATE').map((b) => b.pem);
  const keys = blocks.filter((b) => b.label.endsWith('PRIVATE KEY'));
  const other = blocks.find((b) => b.label !== 'CERTIFICATE' && !b.label.endsWith('PRIVATE KEY') && b.label !== 'EC PARAMETERS');
  if (other) throw malformed(`unexpected ${other.label} block; give the certificate chain and its private key`);
  if (!certificates.length) throw malformed('no CERTIFICATE block was found');
  if (!keys.length) throw malformed('no PRIVATE KEY block was found');
  if (keys.length > 1) throw malformed(`${keys.length} private keys were given; give the one that belongs to the certificate`);
  if (keys[0]!.label === 'ENCRYPTED PRIVATE KEY' || /Proc-Type: 4,ENCRYPTED/.test(text)) {
    throw invalid('malformed PEM: the private key is encrypted', 'decrypt it first: openssl pkey -in key.pem -out key-plain.pem');
  }
  return { certificates, key: keys[0]!.pem };
}

export const malformed = (what: string) =>
  invalid(`malformed PEM: ${what}`, 'give the certificate file (leaf first, then its intermediates) and the private key file, both PEM');
