import crypto from 'node:crypto';
import { invalid } from '../errors.js';

export interface ParsedKey {
  type: string;
  blob: Buffer;
  comment: string;
  /** OpenSSH's `SHA256:…` fingerprint, as `ssh-keygen -lf` prints it. */
  fingerprint: string;
  /** Normalised `type base64` line, without the comment. */
  line: string;
}

const KEY_TYPES = new Set([
  'ssh-ed25519',
  'ssh-rsa',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
]);

export function fingerprintOf(blob: Buffer): string {
  return `SHA256:${crypto.createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** Parses one OpenSSH public key line (`ssh-ed25519 AAAA… comment`). */
export function parsePublicKey(text: string): ParsedKey {
  const line =
    text
      .trim()
      .split('\n')
      .find((l) => l.trim() && !l.startsWith('#'))
      ?.trim() ?? '';
  const [type, b64, ...rest] = line.split(/\s+/);
  const hint = 'pass an OpenSSH public key file such as ~/.ssh/id_ed25519.pub (not the private key)';
  if (!type || !b64 || !KEY_TYPES.has(type)) throw invalid('not an OpenSSH public key', hint);
  const blob = Buffer.from(b64, 'base64');
  // The blob starts with its own type name; a mismatch means a damaged or forged line.
  const len = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  if (len < 0 || blob.subarray(4, 4 + len).toString() !== type) throw invalid('the public key data is damaged', hint);
  return { type, blob, comment: rest.join(' '), fingerprint: fingerprintOf(blob), line: `${type} ${b64}` };
}
