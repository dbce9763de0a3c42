import http from 'node:http';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { SlipwayError } from '../errors.js';
import { LoginThrottle } from '../auth/throttle.js';
import { auditMutations } from './audit-hook.js';
import { authenticate, tokenFrom } from './auth.js';
import { DEFAULT_MAX_UPLOAD_BYTES, type ApiContext, type ApiOptions } from './context.js';
import { registerAccess } from './routes/access.js';
import { registerApps } from './routes/apps.js';
import { registerJobs } from './routes/jobs.js';
import { registerLogin } from './routes/login.js';
import { registerPromotions } from './routes/promotions.js';
import { registerReleases } from './routes/releases.js';
import { UPLOAD_ROUTE, registerUploads } from './routes/uploads.js';
import { awaitsContinue, sendContinue } from './upload.js';

export type { ApiOptions } from './context.js';

/**
 * Every route of a built server, as `METHOD /url`: the permission tests walk
 * them, so a route added later cannot escape the check unnoticed.
 */
export const routesOf = new WeakMap<FastifyInstance, string[]>();

const ENDPOINTS = [
  'GET  /api/v1/apps',
  'GET  /api/v1/apps/APP',
  'GET  /api/v1/apps/APP/releases',
  'GET  /api/v1/apps/APP/releases/vN',
  'GET  /api/v1/apps/APP/releases/vN/archive',
  'GET  /api/v1/apps/APP/jobs',
  'GET  /api/v1/jobs/ID',
  'GET  /api/v1/jobs/ID/log[?follow=1]',
  'POST /api/v1/apps/APP/artifacts?sha256=HEX   (body: the release .tar.gz)',
  'POST /api/v1/apps/APP/builds                 (body: a source .tar.gz)',
  'POST /api/v1/apps/APP/promotions             {"from": "STAGING_APP", "version": "vN"}',
  'POST /api/v1/login                           {"user": "NAME", "password": "…", "token_name": "laptop"} → 201 {token}',
  'GET  /api/v1/apps/APP/collaborators',
  'PUT  /api/v1/apps/APP/collaborators/USER     (owner or admin)',
  'DELETE /api/v1/apps/APP/collaborators/USER   (owner or admin; or yourself)',
  'GET  /api/v1/apps/APP/audit[?limit=N]',
  'GET  /api/v1/audit[?app=APP&limit=N]',
];

/**
 * The HTTP entrance: smart-HTTP git under /git/, the REST API under /api/v1.
 * Errors become `{ error, message, hint }` JSON here and nowhere else. Every
 * /api/v1 route but the index and health needs a token, checked before any
 * request body is read.
 */
export async function buildHttpServer(opts: ApiOptions): Promise<FastifyInstance> {
  const ctx: ApiContext = {
    ...opts,
    maxUploadBytes: opts.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES,
    log: opts.log ?? ((m) => process.stderr.write(`${m}\n`)),
  };
  const app = Fastify({
    bodyLimit: 1024 * 1024,
    serverFactory: (handler) => {
      const route = (req: http.IncomingMessage, res: http.ServerResponse) => (req.url?.startsWith('/git/') ? opts.gitHandler(req, res) : handler(req, res));
      // Node's default 5-minute limit on receiving a request would cut off a large upload on a slow link.
      const server = http.createServer({ requestTimeout: 60 * 60_000 }, route);
      server.on('checkContinue', (req, res) => {
        if (!(req.method === 'POST' && UPLOAD_ROUTE.test(req.url ?? ''))) sendContinue(req, res);
        route(req, res);
      });
      return server;
    },
  });

  const routes: string[] = [];
  routesOf.set(app, routes);
  app.addHook('onRoute', (r) => {
    for (const m of [r.method].flat()) if (m !== 'HEAD') routes.push(`${m} ${r.url}`);
  });

  app.setErrorHandler((err: unknown, req, reply) => {
    // A client still waiting for `100 Continue` has not sent its body; the connection cannot carry another request.
    if (awaitsContinue(req.raw)) reply.header('connection', 'close');
    if (err instanceof SlipwayError) {
      if (err.status === 401) reply.header('www-authenticate', 'Bearer realm="slipway"');
      if (err.status >= 500) ctx.log(`api: ${req.method} ${req.url}: ${err.message}`);
      return reply.status(err.status).send({ error: err.code, message: err.message, hint: err.hint });
    }
    const status = (err as FastifyError).statusCode ?? 500;
    if (status >= 500) {
      ctx.log(`api: ${req.method} ${req.url}: ${(err as Error).stack ?? err}`);
      return reply.status(500).send({ error: 'internal', message: 'internal error', hint: 'the server log has the details' });
    }
    const hint = status === 415 ? 'send JSON with Content-Type: application/json' : 'see GET /api/v1 for the endpoints and what they take';
    return reply.status(status).send({ error: 'bad_request', message: (err as Error).message, hint });
  });
  app.setNotFoundHandler((req, reply) => reply.status(404).send({ error: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]}`, hint: 'see GET /api/v1' }));

  app.get('/api/v1', async () => ({ name: 'slipway', version: opts.version, auth: 'Authorization: Bearer TOKEN', endpoints: ENDPOINTS }));
  app.get('/api/v1/health', async () => ({ ok: true }));
  registerLogin(app, ctx, opts.loginThrottle ?? new LoginThrottle());

  await app.register(async (api) => {
    api.addHook('onRequest', async (req) => {
      try {
        req.slipwayUser = authenticate(opts.gateway, req.headers.authorization);
      } catch (err) {
        // A token that was sent and refused is a failed login; no token at all is only a question.
        if (tokenFrom(req.headers.authorization)) opts.gateway.authFailed?.({ source: `http ${req.ip}`, reason: 'invalid or revoked API token' });
        throw err;
      }
    });
    auditMutations(api, opts.store);
    registerAccess(api, ctx);
    registerApps(api, ctx);
    registerReleases(api, ctx);
    registerJobs(api, ctx);
    registerPromotions(api, ctx);
    await registerUploads(api, ctx);
  });
  return app;
}
