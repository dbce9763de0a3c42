import { SlipwayError } from '../errors.js';
import type { AcmeChallenge } from './engine.js';
import { normalizeHost } from './table.js';

export const CHALLENGE_PREFIX = '/.well-known/acme-challenge/';

/** RFC 8555 §8.3: tokens are base64url; a key authorization is `token.base64url(SHA-256 thumbprint)`. */
const TOKEN = /^[A-Za-z0-9_-]{16,128}$/;
const KEY_AUTHORIZATION = /^([A-Za-z0-9_-]{16,128})\.[A-Za-z0-9_-]{43}$/;
const HOST = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/**
 * Checks a challenge before a router takes it: every part lands in a
 * response (and, for nginx, in a config file), so each must match its
 * grammar exactly, and the key authorization must be for the token.
 */
export function checkChallenge(c: AcmeChallenge): AcmeChallenge {
  const host = normalizeHost(c.host);
  const keyAuth = KEY_AUTHORIZATION.exec(c.keyAuthorization);
  if (!HOST.test(host) || !TOKEN.test(c.token) || !keyAuth || keyAuth[1] !== c.token) {
    throw new SlipwayError('invalid_challenge', `invalid ACME challenge for ${JSON.stringify(c.host.slice(0, 80))}`, {
      status: 500,
      hint: 'this is a bug in the ACME client: tokens and key authorizations are base64url',
    });
  }
  return { host, token: c.token, keyAuthorization: c.keyAuthorization };
}

/** The built-in engine's challenges: host + token → key authorization, replaced in one assignment. */
export class ChallengeTable {
  private map = new Map<string, string>();

  set(challenges: AcmeChallenge[]): void {
    const checked = challenges.map(checkChallenge);
    this.map = new Map(checked.map((c) => [`${c.host} ${c.token}`, c.keyAuthorization]));
  }

  /** The key authorization to answer with, when `path` is a challenge of `host`'s. */
  answer(method: string | undefined, host: string | undefined, path: string | undefined): string | undefined {
    if (!this.map.size || (method !== 'GET' && method !== 'HEAD') || !path?.startsWith(CHALLENGE_PREFIX)) return undefined;
    return this.map.get(`${normalizeHost(host ?? '')} ${path.slice(CHALLENGE_PREFIX.length)}`);
  }
}
