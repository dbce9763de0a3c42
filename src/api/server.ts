import http from 'node:http';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { appFor, mayUse, visibleApps } from '../auth/access.js';
import { SlipwayError, notFound } from '../errors.js';
import type { GitGateway } from '../git/gateway.js';
import type { Store, User } from '../store/index.js';

export interface ApiOptions {
  store: Store;
  gateway: GitGateway;
  /** Requests under /git/ go here instead (smart HTTP). */
  gitHandler: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  version: string;
}

/**
 * The HTTP entrance: smart-HTTP git under /git/, the REST API under /api/v1.
 * Errors become `{ error, message, hint }` JSON here and nowhere else.
 */
export async function buildHttpServer(opts: ApiOptions): Promise<FastifyInstance> {
  const app = Fastify({
    bodyLimit: 1024 * 1024,
    serverFactory: (handler) =>
      http.createServer((req, res) => (req.url?.startsWith('/git/') ? opts.gitHandler(req, res) : handler(req, res))),
  });

  app.setErrorHandler((err: unknown, _req, reply) => {
    if (err instanceof SlipwayError) return reply.status(err.status).send({ error: err.code, message: err.message, hint: err.hint });
    const status = (err as { statusCode?: number }).statusCode ?? 500;
    return reply.status(status).send({ error: status >= 500 ? "internal" : "bad_request", message: status >= 500 ? "internal error" : (err as Error).message });
  });
  app.setNotFoundHandler((req, reply) => reply.status(404).send({ error: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]}`, hint: 'see /api/v1' }));

  const auth = (req: FastifyRequest): User => {
    const h = req.headers.authorization ?? '';
    const token = h.startsWith('Bearer ') ? h.slice(7) : h.startsWith('Basic ') ? Buffer.from(h.slice(6), 'base64').toString().split(':').slice(1).join(':') : '';
    const user = opts.gateway.userForToken(token.trim());
    if (!user) throw new SlipwayError('unauthorized', 'a valid API token is required', { status: 401, hint: 'send Authorization: Bearer TOKEN (create one with `slipway tokens:create`)' });
    return user;
  };

  app.get('/api/v1', async () => ({ name: 'slipway', version: opts.version }));
  app.get('/api/v1/health', async () => ({ ok: true }));
  app.get('/api/v1/apps', async (req) => visibleApps(opts.store, auth(req)).map(publicApp));
  app.get<{ Params: { app: string } }>('/api/v1/apps/:app', async (req) => publicApp(appFor(opts.store, auth(req), req.params.app)));
  app.get<{ Params: { app: string } }>('/api/v1/apps/:app/releases', async (req) => {
    const a = appFor(opts.store, auth(req), req.params.app);
    return opts.store.releases.list(a.id).map(({ config: _config, archivePath: _p, ...r }) => r);
  });
  app.get<{ Params: { id: string } }>('/api/v1/jobs/:id', async (req) => {
    const user = auth(req);
    const job = /^\d{1,12}$/.test(req.params.id) ? opts.store.jobs.get(Number(req.params.id)) : undefined;
    if (!job || !mayUse(user, opts.store.apps.byId(job.appId)!)) throw notFound(`job ${req.params.id}`);
    return { ...job, logPath: undefined, log_url: `/api/v1/jobs/${job.id}/log`, stages: opts.store.jobs.stages(job.id) };
  });
  return app;
}

function publicApp(a: ReturnType<Store['apps']['list']>[number]) {
  return { name: a.name, owner: a.ownerName, env: a.env, mode: a.mode, deploy_branch: a.deployBranch, current_release: a.currentRelease, created_at: a.createdAt };
}
