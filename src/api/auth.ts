import type { FastifyRequest } from 'fastify';
import type { LiveSession, LiveSessions } from '../auth/sessions.js';
import { SlipwayError } from '../errors.js';
import type { GitGateway } from '../git/gateway.js';
import type { User } from '../store/index.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the API scope's onRequest hook, before any body is read. */
    slipwayUser?: User;
    /** The SHA-256 of the token it came with: a stream ends when that token is revoked. */
    slipwayTokenHash?: string;
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

/**
 * Registers a streaming answer (NDJSON, a followed log) as a live session of
 * the caller and their token; `end` runs, with a one-line reason, once the
 * token or the user is gone or, after `useApp`, their access to that app.
 * Call `close` when the stream ends on its own.
 */
export function openStream(sessions: LiveSessions, req: FastifyRequest, end: (reason: string) => void): LiveSession {
  return sessions.open({ userId: requestUser(req).id, tokenHash: req.slipwayTokenHash }, end);
}

export const unauthorized = () =>
  new SlipwayError('unauthorized', 'a valid API token is required', {
    status: 401,
    hint: 'send Authorization: Bearer TOKEN (create one with `slipway tokens:create`)',
  });
