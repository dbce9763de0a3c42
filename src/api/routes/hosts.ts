import os from 'node:os';
import type { FastifyInstance } from 'fastify';
import { visibleApps } from '../../auth/access.js';
import { SlipwayError, describe, notFound } from '../../errors.js';
import type { User } from '../../store/index.js';
import { requestUser } from '../auth.js';
import type { ApiContext } from '../context.js';
import { engineFor } from '../docker-engine.js';
import { errorResponses, hostSchema, idParams } from '../runtime-schemas.js';
import { errors, list } from '../schemas.js';

const TAGS = ['hosts'];
/** The only host there is: Slipway runs every app on the machine its server runs on. */
const LOCAL = 'local';
const hostUrl = (id: string) => `/api/v1/hosts/${id}`;

/**
 * Hosts (the 001 seed) — there is one: this machine. Listing it tells what
 * runs where (drivers, Docker engine, CPUs, memory, load); adding or removing
 * hosts answers 405 with the reason instead of pretending.
 */
export function registerHosts(api: FastifyInstance, ctx: ApiContext): void {
  api.get(
    '/api/v1/hosts',
    { schema: { summary: 'The hosts apps run on (this one)', tags: TAGS, response: { 200: list(hostSchema), ...errorResponses } } },
    async (req) => [await hostView(ctx, requestUser(req))],
  );

  api.get<{ Params: { id: string } }>(
    '/api/v1/hosts/:id',
    {
      schema: {
        summary: 'One host: `local`, or its host name',
        tags: TAGS,
        params: idParams,
        response: { 200: hostSchema, ...errorResponses },
      },
    },
    async (req) => {
      const user = requestUser(req);
      if (req.params.id !== LOCAL && req.params.id !== os.hostname())
        throw notFound(`host ${JSON.stringify(req.params.id.slice(0, 80))}`, 'Slipway runs on one host: /api/v1/hosts/local');
      return hostView(ctx, user);
    },
  );

  const singleHost = async () => {
    throw new SlipwayError('single_host', 'Slipway runs every app on the one host its server runs on; hosts cannot be added or removed', {
      status: 405,
      hint: 'to use another machine, run `slipway server` there and push to it; GET /api/v1/hosts describes this one',
    });
  };
  const refused = { schema: { summary: 'Refused: Slipway runs on one host (405)', tags: TAGS, response: { ...errors(401, 405) } } };
  api.post('/api/v1/hosts', refused, async (_req, reply) => {
    reply.header('allow', 'GET');
    return singleHost();
  });
  api.delete<{ Params: { id: string } }>('/api/v1/hosts/:id', { schema: { ...refused.schema, params: idParams } }, async (_req, reply) => {
    reply.header('allow', 'GET');
    return singleHost();
  });
}

async function hostView(ctx: ApiContext, user: User) {
  const { services, oneOffs } = ctx.platform;
  const engine = await engineFor(ctx).version();
  const apps = visibleApps(ctx.store, user).map((a) => a.name);
  const instances = apps.reduce(
    (n, a) => n + services.driver.instances(a).length + oneOffs.list(a).filter((o) => o.finishedAt == null).length,
    0,
  );
  return {
    id: LOCAL,
    name: os.hostname(),
    driver: ctx.settings.defaultDriver,
    drivers: engine.reachable ? ['process', 'docker'] : ['process'],
    docker: { reachable: engine.reachable, version: engine.version ?? null, error: engine.error == null ? null : describe(engine.error) },
    cpus: os.cpus().length,
    memory: { total: os.totalmem(), free: os.freemem() },
    load: os.loadavg(),
    instances,
    url: hostUrl(LOCAL),
  };
}
