import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ApiContext } from '../api/context.js';
import { passwordLogin } from '../api/routes/login.js';
import { appFor } from '../auth/access.js';
import type { LoginThrottle } from '../auth/throttle.js';
import { SlipwayError } from '../errors.js';
import { flash, page, requireSession } from './frame.js';
import { LOGIN_CSRF_COOKIE } from './pages.js';
import { checkCsrf, cookieName, endSession, issuedTokenName, startSession } from './session.js';
import { runAs } from './command.js';

type Form = Record<string, unknown>;
/** Longest a scale or restart is waited for before the page comes back (rolling restarts wait for health checks). */
const WAIT_MS = 120_000;
type AppPost = { Params: { app: string }; Body: Form };

/** One form field as a string ('' when absent or sent twice). */
const field = (body: unknown, name: string): string => {
  const v = (body as Form | undefined)?.[name];
  return typeof v === 'string' ? v : '';
};

/**
 * The forms. Every one carries the session's CSRF token, checked before
 * anything else; every change runs the slipway command a user would type,
 * as that user (runAs), so no rule is written twice.
 */
export function registerActions(web: FastifyInstance, ctx: ApiContext, throttle: LoginThrottle): void {
  web.post<{ Body: Form }>('/login', async (req, reply) => {
    const expected = req.cookies[cookieName(ctx, req, LOGIN_CSRF_COOKIE)];
    if (!expected || field(req.body, '_csrf') !== expected)
      throw new SlipwayError('csrf_failed', 'this login form has expired or was not sent from this site', {
        status: 403,
        hint: 'open /login again and log in from there',
      });
    const address = ctx.clientAddress(req.raw);
    const token = field(req.body, 'token').trim();
    try {
      if (token) {
        const user = ctx.gateway.userForToken(token);
        ctx.store.audit.record({
          userName: user?.name ?? null,
          action: 'login',
          appName: null,
          detail: user ? { via: 'dashboard token' } : { via: 'dashboard token', reason: 'invalid or revoked API token' },
          source: `dashboard ${address}`,
          outcome: user ? 'ok' : 'denied',
        });
        if (!user) {
          ctx.gateway.authFailed?.({ source: `dashboard ${address}`, reason: 'invalid or revoked API token' });
          throw new SlipwayError('unauthorized', 'that API token is not valid (revoked, or mistyped)', { status: 401 });
        }
        startSession(ctx, req, reply, token, undefined);
      } else {
        const issued = await passwordLogin(ctx, throttle, {
          name: field(req.body, 'user'),
          password: field(req.body, 'password'),
          base: 'dashboard',
          address,
          retryAfter: (s) => reply.header('retry-after', String(s)),
        });
        startSession(ctx, req, reply, issued.token, issued.row.name);
      }
    } catch (err) {
      if (!(err instanceof SlipwayError) || err.status >= 500) throw err;
      return page(reply.code(err.status), 'login', { title: 'Log in', loginCsrf: expected, error: err.message });
    }
    reply.clearCookie(cookieName(ctx, req, LOGIN_CSRF_COOKIE), { path: '/' });
    return reply.redirect('/', 303);
  });

  web.post<{ Body: Form }>('/logout', async (req, reply) => {
    const session = requireSession(ctx, req);
    checkCsrf(session, field(req.body, '_csrf'));
    // A token the dashboard made at a password login dies with the session; a pasted one is only forgotten here.
    const name = issuedTokenName(ctx, req);
    if (name && ctx.store.users.tokens(session.user.id).some((t) => t.name === name && t.revokedAt == null))
      await runAs(ctx, req, session.user, ['tokens:revoke', '--', name]);
    endSession(ctx, req, reply);
    flash(reply, true, 'You are logged out.');
    return reply.redirect('/login', 303);
  });

  /**
   * Commands that start a deploy answer after a moment (the app page then follows the job);
   * scale and restart are waited for, as they make no job to follow.
   */
  const action = (path: string, argv: (form: Form, app: string) => string[], waitMs = 1500) =>
    web.post<AppPost>(`/apps/:app/${path}`, async (req, reply) => {
      const session = requireSession(ctx, req);
      checkCsrf(session, field(req.body, '_csrf'));
      const app = appFor(ctx.store, session.user, req.params.app);
      const command = argv(req.body ?? {}, app.name);
      return done(reply, app.name, command, await runAs(ctx, req, session.user, command, waitMs));
    });

  action('rollback', (f, app) => ['rollback', '--', app, field(f, 'version')]);
  action('promote', (f, app) => ['promote', '--to', field(f, 'to'), '--', app, field(f, 'version')]);
  action('config', (f, app) => [
    'config:set',
    ...(field(f, 'secret') ? ['--secret'] : []),
    '--',
    app,
    `${field(f, 'key')}=${field(f, 'value')}`,
  ]);
  action('config/unset', (f, app) => ['config:unset', '--', app, field(f, 'key')]);
  action('scale', (f, app) => ['ps:scale', '--', app, `${field(f, 'type')}=${field(f, 'count')}`], WAIT_MS);
  action('restart', (f, app) => ['ps:restart', '--', app, ...(field(f, 'type') ? [field(f, 'type')] : [])], WAIT_MS);
}

/** Back to the app page with what the command said; a deploy still running shows there with its live log. */
function done(reply: FastifyReply, app: string, command: string[], outcome: { code?: number; output: string }) {
  const text = outcome.output.trim();
  const started = `slipway ${command.filter((a) => a !== '--').join(' ')} is running; its job and log follow below.`;
  if (outcome.code === undefined) flash(reply, true, text ? `${text}\n${started}` : started);
  else flash(reply, outcome.code === 0, text || (outcome.code === 0 ? 'Done.' : 'The command failed.'));
  return reply.redirect(`/apps/${encodeURIComponent(app)}`, 303);
}
