import { invalid } from '../errors.js';

/** One `-----BEGIN LABEL-----` … `-----END LABEL-----` block, re-emitted in canonical form. */
export interface PemBlock {
  label: string;
  pem: string;
}

const BEGIN = '-----BEGIN ';
const LABEL = /^[A-Z0-9 ]+$/;
const BASE64 = /^[A-Za-z0-9+/=\s]*$/;
/** Encrypted PEM keys carry headers (`Proc-Type:`, `DEK-Info:`) before the base64. */
const HEADER = /^[A-Za-z-]+:.*$/gm;
/** Most blocks a certificate file may hold: the chain (see check.ts's cap), its key, perhaps EC parameters. */
export const MAX_BUNDLE_BLOCKS = 16;

/**
 * Every PEM block of `text`, in order; text between blocks (openssl's
 * `subject=` lines) is ignored. One pass with indexOf, each BEGIN taken to its
 * own END and failing at once without one: a backtracking regex took seconds
 * on a file of many BEGIN lines, with the event loop stopped meanwhile.
 */
export function pemBlocks(text: string, maxBlocks = Infinity): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (let at = text.indexOf(BEGIN); at >= 0; at = text.indexOf(BEGIN, at)) {
    if (blocks.length >= maxBlocks) throw malformed(`more than ${maxBlocks} PEM blocks were given`);
    const labelEnd = text.indexOf('-----', at + BEGIN.length);
    const label = labelEnd < 0 ? '' : text.slice(at + BEGIN.length, labelEnd);
    if (!LABEL.test(label) || label.length > 64) throw malformed('a -----BEGIN line is cut short or names no block type');
    const bodyStart = text.startsWith('\r\n', labelEnd + 5) ? labelEnd + 7 : labelEnd + 6;
    if (text[bodyStart - 1] !== '\n') throw malformed(`the -----BEGIN ${label}----- line does not end the line`);
    const end = `-----END ${label}-----`;
    const bodyEnd = text.indexOf(end, bodyStart);
    if (bodyEnd < 0) throw malformed(`the ${label} block has no ${end} line`);
    const body = text.slice(bodyStart, bodyEnd);
    if (!BASE64.test(body.replace(HEADER, ''))) throw malformed(`the ${label} block is not base64`);
    blocks.push({ label, pem: `-----BEGIN ${label}-----\n${body.trim().replace(/\r/g, '')}\n${end}\n` });
    at = bodyEnd + end.length;
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
  const blocks = pemBlocks(text, MAX_BUNDLE_BLOCKS);
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
