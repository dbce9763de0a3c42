import { createHmac, timingSafeEqual } from 'node:crypto';
import type {} from '@fastify/cookie';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ROUTER_KEY_HEADER } from '../api/client-address.js';
import type { ApiContext } from '../api/context.js';
import { hashToken } from '../auth/tokens.js';
import { SlipwayError } from '../errors.js';
import type { User } from '../store/index.js';

/** The session cookie holds an API token: revoking the token, or removing its user, ends the session at the next request. */
export const SESSION_COOKIE = 'slipway_session';
/** The name of the token a password login made: logging out revokes it (a pasted token is only forgotten). */
const ISSUED_COOKIE = 'slipway_issued';
/** Eight hours, as Heroku's dashboard; the token itself lives on until revoked. */
const MAX_AGE_S = 8 * 3600;

export interface DashboardSession {
  user: User;
  token: string;
  tokenHash: string;
  /** The form field every POST must carry: derived from the token, so it needs no storage and dies with it. */
  csrf: string;
}

/** The session of a request, or undefined: no cookie, or a token that is revoked or whose user is gone. */
export function sessionOf(ctx: ApiContext, req: FastifyRequest): DashboardSession | undefined {
  const token = req.cookies[cookieName(ctx, req, SESSION_COOKIE)];
  if (!token) return undefined;
  const user = ctx.gateway.userForToken(token);
  if (!user) return undefined;
  return { user, token, tokenHash: hashToken(token), csrf: csrfFor(token) };
}

export function csrfFor(token: string): string {
  return createHmac('sha256', token).update('slipway dashboard csrf').digest('base64url');
}

/** A POST without the session's CSRF token is refused before it does anything: another site cannot act for the user. */
export function checkCsrf(session: DashboardSession, sent: unknown): void {
  const a = Buffer.from(typeof sent === 'string' ? sent : '');
  const b = Buffer.from(session.csrf);
  if (a.length !== b.length || !timingSafeEqual(a, b))
    throw new SlipwayError('csrf_failed', 'this form was not sent from your dashboard session', {
      status: 403,
      hint: 'reload the page and send the form again',
    });
}

/** HTTPS as the browser saw it: directly, or through Slipway's own router on its TLS port (which proves itself). */
export function overHttps(ctx: ApiContext, req: FastifyRequest): boolean {
  if ((req.raw.socket as { encrypted?: boolean }).encrypted) return true;
  // The router's key proves its X-Forwarded-Proto; anything else on the host could claim https.
  const key = req.headers[ROUTER_KEY_HEADER.toLowerCase()];
  if (!ctx.routerKey || typeof key !== 'string') return false;
  const a = Buffer.from(key);
  const b = Buffer.from(ctx.routerKey);
  return a.length === b.length && timingSafeEqual(a, b) && req.headers['x-forwarded-proto'] === 'https';
}

/** `issuedName`: the name of the token a password login made for this session, which logging out revokes. */
export function startSession(
  ctx: ApiContext,
  req: FastifyRequest,
  reply: FastifyReply,
  token: string,
  issuedName: string | undefined,
): void {
  const opts = cookieOptions(ctx, req);
  reply.setCookie(cookieName(ctx, req, SESSION_COOKIE), token, { ...opts, maxAge: MAX_AGE_S });
  if (issuedName) reply.setCookie(cookieName(ctx, req, ISSUED_COOKIE), issuedName, { ...opts, maxAge: MAX_AGE_S });
  else reply.clearCookie(cookieName(ctx, req, ISSUED_COOKIE), opts);
}

export function issuedTokenName(ctx: ApiContext, req: FastifyRequest): string | undefined {
  return req.cookies[cookieName(ctx, req, ISSUED_COOKIE)] || undefined;
}

export function endSession(ctx: ApiContext, req: FastifyRequest, reply: FastifyReply): void {
  const opts = cookieOptions(ctx, req);
  reply.clearCookie(cookieName(ctx, req, SESSION_COOKIE), opts);
  reply.clearCookie(cookieName(ctx, req, ISSUED_COOKIE), opts);
}

/**
 * Over HTTPS a `__Host-` cookie: apps live at sibling host names and any of
 * them may set a cookie for the whole domain (a session of its own, a token
 * name for logout to revoke); the browser lets no other host set these.
 */
export function cookieName(ctx: ApiContext, req: FastifyRequest, base: string): string {
  return overHttps(ctx, req) ? `__Host-${base}` : base;
}

function cookieOptions(ctx: ApiContext, req: FastifyRequest) {
  return { path: '/', httpOnly: true, sameSite: 'strict' as const, secure: overHttps(ctx, req) };
}
