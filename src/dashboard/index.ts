import { createRequire } from 'node:module';
import path from 'node:path';
import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import fastifyStatic from '@fastify/static';
import view from '@fastify/view';
import { Eta } from 'eta';
import type { FastifyInstance } from 'fastify';
import type { ApiContext } from '../api/context.js';
import { SlipwayError } from '../errors.js';
import { PACKAGE_ROOT } from '../paths.js';
import type { LoginThrottle } from '../auth/throttle.js';
import { registerActions } from './actions.js';
import { registerPages } from './pages.js';
import { sessionOf } from './session.js';
import { LoggedOut, page } from './frame.js';
import { registerStreams } from './streams.js';

const DIR = path.join(PACKAGE_ROOT, 'src', 'dashboard');
const HTMX_DIR = path.dirname(createRequire(import.meta.url).resolve('htmx.org/dist/htmx.min.js'));

/**
 * The web dashboard at `/`: server-rendered pages over the same store reads
 * and permission checks as the API, actions through the same command program
 * as every other entrance, live logs as Server-Sent Events. Its own scope:
 * form bodies and cookies are parsed here only, the API stays JSON.
 */
export async function registerDashboard(app: FastifyInstance, ctx: ApiContext, throttle: LoginThrottle): Promise<void> {
  await app.register(async (web) => {
    await web.register(cookie);
    await web.register(formbody, { bodyLimit: 64 * 1024 });
    await web.register(view, {
      // autoEscape stays on (Eta's default): `<%= %>` escapes, only our own markup goes through `<%~ %>`.
      engine: { eta: new Eta({ views: path.join(DIR, 'templates'), autoEscape: true, cache: true }) },
      root: path.join(DIR, 'templates'),
      viewExt: 'eta',
    });
    await web.register(fastifyStatic, { root: path.join(DIR, 'static'), prefix: '/assets/', decorateReply: false, maxAge: 3600_000 });
    await web.register(fastifyStatic, {
      root: HTMX_DIR,
      prefix: '/assets/vendor/',
      decorateReply: false,
      allowedPath: (p) => p === '/htmx.min.js',
      maxAge: 3600_000,
    });

    web.addHook('onSend', async (_req, reply, payload) => {
      // No framing by other sites, scripts only from here, forms only to here.
      reply.header(
        'content-security-policy',
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
      );
      reply.header('x-frame-options', 'DENY');
      reply.header('referrer-policy', 'same-origin');
      return payload;
    });

    web.setErrorHandler(async (err, req, reply) => {
      if (err instanceof LoggedOut)
        return /text\/event-stream/.test(req.headers.accept ?? '') ? reply.code(401).send() : reply.redirect('/login', 303);
      const e = err as Error & { statusCode?: number };
      const status = e instanceof SlipwayError ? e.status : (e.statusCode ?? 500);
      if (status >= 500) ctx.log(`dashboard: ${req.method} ${req.url}: ${(err as Error).stack ?? err}`);
      const message = status >= 500 ? 'internal error; the server log has the details' : (err as Error).message;
      return page(reply.code(status), 'error', {
        title: 'Error',
        session: sessionOf(ctx, req),
        heading: status === 404 ? 'Not found' : status === 403 ? 'Refused' : 'Something went wrong',
        message,
        hint: e instanceof SlipwayError ? e.hint : undefined,
      });
    });

    registerPages(web, ctx);
    registerActions(web, ctx, throttle);
    registerStreams(web, ctx);
  });
}
