import crypto from 'node:crypto';
import { SlipwayError, invalid } from '../errors.js';
import type { Store, TokenRow, User } from '../store/index.js';

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

export const TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

export function checkTokenName(name: string): string {
  if (!TOKEN_NAME.test(name))
    throw invalid(
      `invalid token name ${JSON.stringify(name.slice(0, 70))}`,
      'use letters, digits, ".", "_", "@" and "-", 64 characters at most, e.g. jenkins',
    );
  return name;
}

/**
 * Makes a token for `user` and stores only its hash. A name given is unique
 * among the user's live tokens (so `tokens:revoke NAME` means one token); with
 * none, `base`, `base-2` … is picked.
 */
export function issueToken(store: Store, user: User, opts: { name?: string; base: string }): { token: string; row: TokenRow } {
  let name: string;
  if (opts.name !== undefined) {
    name = checkTokenName(opts.name);
    if (store.users.tokens(user.id).some((t) => t.name === name && t.revokedAt == null)) {
      throw new SlipwayError('token_exists', `${user.name} already has a live token named "${name}"`, {
        status: 409,
        hint: `pick another name, or revoke it first: slipway tokens:revoke ${name}`,
      });
    }
  } else name = store.users.freeTokenName(user.id, opts.base);
  const { token, hash } = newToken();
  return { token, row: store.users.addToken(user.id, name, hash) };
}
