import http from 'node:http';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { SlipwayError } from '../errors.js';
import { authenticate } from './auth.js';
import { DEFAULT_MAX_UPLOAD_BYTES, type ApiContext, type ApiOptions } from './context.js';
import { registerApps } from './routes/apps.js';
import { registerContainers } from './routes/containers.js';
import { registerHosts } from './routes/hosts.js';
import { registerImages } from './routes/images.js';
import { registerQueue } from './routes/queue.js';
import { registerJobs } from './routes/jobs.js';
import { registerPromotions } from './routes/promotions.js';
import { registerReleases } from './routes/releases.js';
import { UPLOAD_ROUTE, registerUploads } from './routes/uploads.js';
import { awaitsContinue, sendContinue } from './upload.js';

export type { ApiOptions } from './context.js';

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
  'GET  /api/v1/containers[?app=APP]',
  'GET  /api/v1/containers/ID',
  'POST /api/v1/containers                      {"app": "APP", "command": ["CMD", "ARG"], "release": "vN"}',
  'DELETE /api/v1/containers/ID                 (one-offs)',
  'GET  /api/v1/images[?app=APP]',
  'GET  /api/v1/images/ID                       (APP:vN, sha256:HEX)',
  'POST /api/v1/images?app=APP&tag=T            (body: a .zip or .tar.gz with a Dockerfile)',
  'POST /api/v1/images/ID/tags                  {"tag": "T"}',
  'DELETE /api/v1/images/ID',
  'GET  /api/v1/hosts, /api/v1/hosts/local',
  'GET  /api/v1/queue[?app=APP], /api/v1/queue/ID, /api/v1/queue/ID/log',
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

  await app.register(async (api) => {
    api.addHook('onRequest', async (req) => {
      req.slipwayUser = authenticate(opts.gateway, req.headers.authorization);
    });
    registerApps(api, ctx);
    registerReleases(api, ctx);
    registerJobs(api, ctx);
    registerPromotions(api, ctx);
    await registerUploads(api, ctx);
    registerContainers(api, ctx);
    await registerImages(api, ctx);
    registerHosts(api, ctx);
    registerQueue(api, ctx);
  });
  return app;
}
