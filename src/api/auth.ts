import type { FastifyRequest } from 'fastify';
import { SlipwayError } from '../errors.js';
import type { GitGateway } from '../git/gateway.js';
import type { User } from '../store/index.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the API scope's onRequest hook, before any body is read. */
    slipwayUser?: User;
  }
}

/**
 * The token in an Authorization header: `Bearer TOKEN`, or Basic auth with the
 * token as the password (what git and `curl -u user:TOKEN` send) or, when the
 * password is empty, as the user name (`curl -u TOKEN:`).
 */
export function tokenFrom(header: string | undefined): string {
  const m = /^(\S+)\s+(.*)$/.exec((header ?? '').trim());
  if (!m) return '';
  const [, scheme, value] = m as unknown as [string, string, string];
  if (/^bearer$/i.test(scheme)) return value.trim();
  if (!/^basic$/i.test(scheme)) return '';
  const decoded = Buffer.from(value.trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return '';
  const password = decoded.slice(colon + 1);
  return (password || decoded.slice(0, colon)).trim();
}

export function authenticate(gateway: GitGateway, header: string | undefined): User {
  const user = gateway.userForToken(tokenFrom(header));
  if (!user) throw unauthorized();
  return user;
}

/** The caller of a route inside the authenticated scope. */
export function requestUser(req: FastifyRequest): User {
  if (!req.slipwayUser) throw unauthorized();
  return req.slipwayUser;
}

export const unauthorized = () =>
  new SlipwayError('unauthorized', 'a valid API token is required', {
    status: 401,
    hint: 'send Authorization: Bearer TOKEN (create one with `slipway tokens:create`)',
  });
