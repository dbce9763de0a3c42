import crypto from 'node:crypto';

/**
 * API tokens are 32 random bytes; only their SHA-256 is stored. A fast hash is
 * right here (unlike passwords): the input has 256 bits of entropy, so there is
 * nothing to brute-force, and every git-over-HTTP request checks one.
 */
export function newToken(): { token: string; hash: string } {
  const token = `slp_${crypto.randomBytes(32).toString('base64url')}`;
  return { token, hash: hashToken(token) };
}

export function hashToken(token: string): string {
  return crypto.createHash('sha256').update(token).digest('hex');
}
