import crypto from 'node:crypto';
import { promisify } from 'node:util';
import { invalid } from '../errors.js';

const scrypt = promisify(crypto.scrypt) as (pw: string, salt: Buffer, len: number, opts: crypto.ScryptOptions) => Promise<Buffer>;

/**
 * Password hashes: scrypt with a random 16-byte salt per user, stored as
 * `scrypt$N$r$p$salt$hash` (base64url) so the cost can be raised later
 * without invalidating stored hashes. N=2^15, r=8 costs ~32 MiB and tens of
 * milliseconds per check: cheap for one login, ruinous for a guessing attack.
 */
const PARAMS = { N: 2 ** 15, r: 8, p: 1 };
const KEY_LEN = 32;
const maxmem = (N: number, r: number) => 128 * N * r * 2;

export const MIN_PASSWORD = 8;
export const MAX_PASSWORD = 1024;

export function checkPassword(password: string): string {
  if (password.length < MIN_PASSWORD)
    throw invalid(
      `the password is shorter than ${MIN_PASSWORD} characters`,
      'pick a longer one (a passphrase of a few words is easy to type)',
    );
  if (password.length > MAX_PASSWORD) throw invalid(`the password is longer than ${MAX_PASSWORD} characters`);
  return password;
}

export async function hashPassword(password: string): Promise<string> {
  const salt = crypto.randomBytes(16);
  const { N, r, p } = PARAMS;
  const key = await scrypt(password.normalize('NFC'), salt, KEY_LEN, { N, r, p, maxmem: maxmem(N, r) });
  return ['scrypt', N, r, p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

/**
 * True when `password` matches `stored`. With no stored hash (unknown user, or
 * a user without a password) a throwaway hash is still computed, so the answer
 * takes as long as for a real user: timing tells nothing about who exists.
 */
export async function verifyPassword(password: string, stored: string | null | undefined): Promise<boolean> {
  const parts = (stored ?? '').split('$');
  const real = parts.length === 6 && parts[0] === 'scrypt';
  const [N, r, p] = real ? parts.slice(1, 4).map(Number) : [PARAMS.N, PARAMS.r, PARAMS.p];
  const salt = real ? Buffer.from(parts[4]!, 'base64url') : crypto.randomBytes(16);
  const expected = real ? Buffer.from(parts[5]!, 'base64url') : crypto.randomBytes(KEY_LEN);
  const key = await scrypt(password.slice(0, MAX_PASSWORD).normalize('NFC'), salt, expected.length || KEY_LEN, {
    N: N!,
    r: r!,
    p: p!,
    maxmem: maxmem(N!, r!),
  });
  return real && key.length === expected.length && crypto.timingSafeEqual(key, expected);
}
