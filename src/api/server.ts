import http from 'node:http';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { SlipwayError, type ErrorCode } from '../errors.js';
import { appFor } from '../auth/access.js';
import { LiveSessions } from '../auth/sessions.js';
import { LoginThrottle } from '../auth/throttle.js';
import { hashToken } from '../auth/tokens.js';
import { auditMutations } from './audit-hook.js';
import { clientAddress } from './client-address.js';
import { checkPathParams } from './params.js';
import { authenticate, tokenFrom } from './auth.js';
import { DEFAULT_MAX_UPLOAD_BYTES, type ApiContext, type ApiOptions } from './context.js';
import { registerAccess } from './routes/access.js';
import { registerApps } from './routes/apps.js';
import { registerCerts } from './routes/certs.js';
import { registerCli } from './routes/cli.js';
import { registerConfig } from './routes/config.js';
import { registerContainers } from './routes/containers.js';
import { registerDrains } from './routes/drains.js';
import { registerHosts } from './routes/hosts.js';
import { registerImages } from './routes/images.js';
import { registerQueue } from './routes/queue.js';
import { registerJobs } from './routes/jobs.js';
import { registerProjects } from './routes/projects.js';
import { registerLogin } from './routes/login.js';
import { registerMetrics } from './routes/metrics.js';
import { registerDashboard } from '../dashboard/index.js';
import { registerPromotions } from './routes/promotions.js';
import { registerReleases } from './routes/releases.js';
import { registerHooks } from './routes/hooks.js';
import { registerVendors } from './routes/vendors.js';
import { UPLOAD_ROUTE, registerUploads } from './routes/uploads.js';
import { awaitsContinue, sendContinue } from './upload.js';
import { collectRoutes, methodsFor, openApiDocument } from './openapi.js';

export type { ApiOptions } from './context.js';

/**
 * Every route of a built server, as `METHOD /url`: the permission tests walk
 * them, so a route added later cannot escape the check unnoticed.
 */
export const routesOf = new WeakMap<FastifyInstance, string[]>();

/**
 * The HTTP entrance: smart-HTTP git under /git/, the REST API under /api/v1.
 * Errors become `{ error, message, hint }` JSON here and nowhere else. Every
 * /api/v1 route but the index and health needs a token, checked before any
 * request body is read.
 */
export async function buildHttpServer(opts: ApiOptions): Promise<FastifyInstance> {
  const log = opts.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const ctx: ApiContext = {
    ...opts,
    maxUploadBytes: opts.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES,
    log,
    sessions: opts.sessions ?? new LiveSessions(opts.store, log),
    clientAddress: (req) => clientAddress(req, opts.routerKey),
  };
  const app = Fastify({
    // Every body that is not an upload (those stream to disk under maxUploadBytes) is small JSON.
    bodyLimit: JSON_BODY_LIMIT,
    // JSON keeps its types (no "123" for 123, no ["x"] for "x"), and unknown fields are refused, not dropped.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false, allowUnionTypes: true } },
    // A malformed %-escape or an over-long path parameter: the same JSON error shape as everything else.
    frameworkErrors: (err, req, reply) => answerError(err, req, reply),
    serverFactory: (handler) => {
      const route = (req: http.IncomingMessage, res: http.ServerResponse) =>
        req.url?.startsWith('/git/') ? opts.gitHandler(req, res) : handler(req, res);
      // Node's default 5-minute limit on receiving a request would cut off a large upload on a slow link.
      const server = http.createServer({ requestTimeout: 60 * 60_000 }, route);
      server.on('checkContinue', (req, res) => {
        if (!(req.method === 'POST' && UPLOAD_ROUTE.test(req.url ?? ''))) sendContinue(req, res);
        route(req, res);
      });
      return server;
    },
  });

  // Response schemas document the API; they never reshape a reply (see schemas.ts).
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  const routes = collectRoutes(app);
  const routeNames: string[] = [];
  routesOf.set(app, routeNames);
  app.addHook('onRoute', (r) => {
    for (const m of [r.method].flat()) if (m !== 'HEAD') routeNames.push(`${m} ${r.url}`);
  });

  const answerError = (err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    // A client still waiting for `100 Continue` has not sent its body; the connection cannot carry another request.
    if (awaitsContinue(req.raw)) reply.header('connection', 'close');
    if (err instanceof SlipwayError) {
      if (err.status === 401) reply.header('www-authenticate', 'Bearer realm="slipway"');
      if (err.status >= 500) ctx.log(`api: ${req.method} ${req.url}: ${err.message}`);
      return reply
        .status(err.status)
        .send({ error: err.code, message: err.message, hint: err.hint ?? 'see GET /api/v1 and /api/v1/openapi.json' });
    }
    const status = (err as FastifyError).statusCode ?? 500;
    if (status >= 500) {
      ctx.log(`api: ${req.method} ${req.url}: ${(err as Error).stack ?? err}`);
      return reply.status(500).send({ error: 'internal', message: 'internal error', hint: 'the server log has the details' });
    }
    const { code, hint } = frameworkError(status, req);
    return reply.status(status).send({ error: code, message: (err as Error).message, hint });
  };
  app.setErrorHandler(answerError);
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0]!;
    const allowed = methodsFor(routes, path);
    if (allowed.length) {
      return reply
        .status(405)
        .header('allow', allowed.join(', '))
        .send({ error: 'method_not_allowed', message: `${req.method} is not allowed on ${path}`, hint: `use ${allowed.join(', ')}` });
    }
    return reply
      .status(404)
      .send({ error: 'not_found', message: `no route ${req.method} ${path}`, hint: 'see GET /api/v1 or /api/v1/openapi.json' });
  });
  // No body where the route takes a JSON object counts as `{}`: the schema then says what is missing.
  app.addHook('preValidation', async (req) => {
    if (req.body === undefined && req.routeOptions.schema?.body) req.body = {};
  });

  const PUBLIC = { tags: ['meta'], security: [] };
  app.get('/api/v1', { schema: { ...PUBLIC, summary: 'this index: the endpoints and how to authenticate' } }, async () => ({
    name: 'slipway',
    version: opts.version,
    auth: 'Authorization: Bearer TOKEN',
    openapi: '/api/v1/openapi.json',
    endpoints: routes.map((r) => `${r.method.padEnd(6)} ${r.url}${r.schema.summary ? `  ${r.schema.summary}` : ''}`),
  }));
  app.get(
    '/api/v1/health',
    { schema: { ...PUBLIC, summary: 'liveness', response: { 200: { type: 'object', properties: { ok: { type: 'boolean' } } } } } },
    async () => ({ ok: true }),
  );
  app.get(
    '/api/v1/openapi.json',
    { schema: { ...PUBLIC, summary: 'this API as an OpenAPI 3.0 document', response: { 200: { type: 'object' } } } },
    async () => openApiDocument(routes, opts.version),
  );
  const throttle = opts.loginThrottle ?? new LoginThrottle();
  registerLogin(app, ctx, throttle);
  registerMetrics(app, ctx);
  // Providers authenticate by signature, not token: outside the token scope, with its own raw-body parser and limits.
  await registerHooks(app, ctx);

  await app.register(async (api) => {
    api.addHook('onRequest', async (req) => {
      try {
        req.slipwayUser = authenticate(opts.gateway, req.headers.authorization);
        req.slipwayTokenHash = hashToken(tokenFrom(req.headers.authorization));
      } catch (err) {
        // A token that was sent and refused is a failed login; no token at all is only a question.
        if (tokenFrom(req.headers.authorization))
          opts.gateway.authFailed?.({ source: `http ${ctx.clientAddress(req.raw)}`, reason: 'invalid or revoked API token' });
        throw err;
      }
    });
    // Before any route handler (so before any engine call or file path): a path parameter outside its grammar goes no further.
    api.addHook('preHandler', async (req) => checkPathParams(req.routeOptions.url, req.params));
    // An app the caller may not use answers 404 before its body is even read,
    // so no route can tell "exists" from "missing" by validating first.
    api.addHook('preParsing', async (req, _reply, payload) => {
      const app = (req.params as { app?: unknown } | undefined)?.app;
      if (typeof app === 'string' && req.slipwayUser) appFor(opts.store, req.slipwayUser, app);
      return payload;
    });
    auditMutations(api, ctx);
    registerAccess(api, ctx);
    registerApps(api, ctx);
    registerCerts(api, ctx);
    registerReleases(api, ctx);
    registerJobs(api, ctx);
    registerPromotions(api, ctx);
    registerConfig(api, ctx);
    registerDrains(api, ctx);
    registerCli(api, ctx);
    registerProjects(api, ctx);
    await registerUploads(api, ctx);
    registerContainers(api, ctx);
    await registerImages(api, ctx);
    registerHosts(api, ctx);
    registerQueue(api, ctx);
    registerVendors(api, ctx);
  });
  // The dashboard at / sits beside the API, in its own scope (cookies, forms); src/dashboard/.
  await registerDashboard(app, ctx, throttle);
  return app;
}

/** Largest JSON body any route takes. */
const JSON_BODY_LIMIT = 1024 * 1024;

/** Fastify's own refusals (validation, body parsing, routing) as Slipway error codes with a hint. */
function frameworkError(status: number, req: FastifyRequest): { code: ErrorCode; hint: string } {
  const doc = `see /api/v1/openapi.json for what ${req.method} ${req.routeOptions.url ?? 'this route'} takes`;
  switch (status) {
    case 400:
      return { code: 'invalid_request', hint: doc };
    case 404:
      return { code: 'not_found', hint: 'see GET /api/v1' };
    case 413:
      return {
        code: 'body_too_large',
        hint: `JSON bodies are limited to ${JSON_BODY_LIMIT / 1024 / 1024} MiB; archives go to the upload routes`,
      };
    case 414:
      return { code: 'uri_too_long', hint: 'path parameters are limited to 100 characters' };
    case 415:
      return { code: 'unsupported_media_type', hint: 'send JSON with Content-Type: application/json' };
    default:
      return { code: 'bad_request', hint: doc };
  }
}
