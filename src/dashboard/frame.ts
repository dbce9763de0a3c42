import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiContext } from '../api/context.js';
import { SlipwayError } from '../errors.js';
import { sessionOf, type DashboardSession } from './session.js';

/** A page's frame: who is signed in, which tab, a message left by the last action. */
export interface PageFrame {
  session?: DashboardSession;
  nav?: 'apps' | 'deploys';
  title: string;
  flash?: { ok: boolean; text: string };
}

export const FLASH_COOKIE = 'slipway_flash';

/** Renders a template inside the layout, no-store (pages show live state and a CSRF token). */
export function page(reply: FastifyReply, template: string, data: PageFrame & Record<string, unknown>) {
  return reply.header('cache-control', 'no-store').type('text/html; charset=utf-8').view(template, data);
}

/** The caller's session, or a redirect to the login page (for pages) / 401 (for streams). */
export function requireSession(ctx: ApiContext, req: FastifyRequest): DashboardSession {
  const session = sessionOf(ctx, req);
  if (!session) throw new LoggedOut();
  return session;
}

/** Thrown by requireSession; the pages turn it into a redirect to /login. */
export class LoggedOut extends SlipwayError {
  constructor() {
    super('unauthorized', 'you are not logged in, or your session ended (its token was revoked)', {
      status: 401,
      hint: 'log in again',
    });
  }
}

/** Leaves a one-time message for the next page the browser loads. */
export function flash(reply: FastifyReply, ok: boolean, text: string): void {
  const value = encodeURIComponent(JSON.stringify({ ok, text: text.slice(0, 1500) }));
  reply.setCookie(FLASH_COOKIE, value, { path: '/', httpOnly: true, sameSite: 'strict', maxAge: 60 });
}

/** The message left for this page, cleared as it is shown. */
export function takeFlash(req: FastifyRequest, reply: FastifyReply): PageFrame['flash'] {
  const raw = req.cookies[FLASH_COOKIE];
  if (!raw) return undefined;
  reply.clearCookie(FLASH_COOKIE, { path: '/' });
  try {
    const v = JSON.parse(decodeURIComponent(raw)) as { ok?: unknown; text?: unknown };
    return typeof v.text === 'string' ? { ok: v.ok === true, text: v.text } : undefined;
  } catch {
    return undefined;
  }
}

export const newLoginCsrf = () => randomBytes(24).toString('base64url');
