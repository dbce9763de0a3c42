import os from 'node:os';
import type { FastifyInstance } from 'fastify';
import { requireAdmin, visibleApps } from '../../auth/access.js';
import { addHost, removeHost, type HostDeps } from '../../hosts/membership.js';
import { serverManager } from '../../hosts/swarm.js';
import { hostsReport, type HostView } from '../../hosts/view.js';
import { SecretBox } from '../../secrets/box.js';
import { SlipwayError, describe, notFound } from '../../errors.js';
import type { Host, User } from '../../store/index.js';
import { requestUser } from '../auth.js';
import type { ApiContext } from '../context.js';
import { engineFor } from '../docker-engine.js';
import { errorResponses, hostSchema, idParams } from '../runtime-schemas.js';
import { errors, list } from '../schemas.js';

const TAGS = ['hosts'];
/** This machine: the server's own host, whatever Swarm hosts are joined. */
const LOCAL = 'local';
const hostUrl = (id: string) => `/api/v1/hosts/${id}`;

/**
 * Hosts (the 001 seed): this machine (`local`: drivers, Docker engine, CPUs,
 * memory, load), then the engines joined to the Swarm the server's engine
 * manages (hosts/), which only an admin sees, adds or removes.
 */
export function registerHosts(api: FastifyInstance, ctx: ApiContext): void {
  const deps = (): HostDeps => ({
    store: ctx.store,
    secrets: ctx.platform.services.secrets ?? SecretBox.forHome(ctx.layout.home),
    manager: serverManager(),
  });
  const swarmHosts = async (user: User, only?: Host[]) => {
    if (user.role !== 'admin' || !(only ?? ctx.store.hosts.list()).length) return [];
    return (await hostsReport(deps(), only)).hosts.map(swarmHostView);
  };

  api.get(
    '/api/v1/hosts',
    {
      schema: {
        summary: "The hosts apps run on: this one (`local`), then, for an admin, the Swarm's hosts",
        tags: TAGS,
        response: { 200: list(hostSchema), ...errorResponses },
      },
    },
    async (req) => {
      const user = requestUser(req);
      return [await hostView(ctx, user), ...(await swarmHosts(user))];
    },
  );

  api.get<{ Params: { id: string } }>(
    '/api/v1/hosts/:id',
    {
      schema: {
        summary: '`local`, its host name, or (for an admin) a Swarm host by name',
        tags: TAGS,
        params: idParams,
        response: { 200: hostSchema, ...errorResponses },
      },
    },
    async (req) => {
      const user = requestUser(req);
      if (req.params.id === LOCAL || req.params.id === os.hostname()) return hostView(ctx, user);
      const host = user.role === 'admin' ? ctx.store.hosts.byName(req.params.id) : undefined;
      if (!host) throw notFound(`host ${JSON.stringify(req.params.id.slice(0, 80))}`, 'list the hosts with GET /api/v1/hosts');
      return (await swarmHosts(user, [host]))[0];
    },
  );

  api.post<{ Body: { name: string; engine: string; ca?: string; cert?: string; key?: string; advertise_addr?: string } }>(
    '/api/v1/hosts',
    {
      schema: {
        summary: "Join a Docker engine to the Swarm the server's engine manages (admin)",
        tags: TAGS,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'engine'],
          properties: {
            name: { type: 'string', maxLength: 63 },
            engine: { type: 'string', maxLength: 500, description: 'unix:///PATH, tcp://HOST[:PORT] or ssh://USER@HOST[:PORT]' },
            ca: { type: 'string', maxLength: 20000, description: 'TLS: CA certificate (PEM)' },
            cert: { type: 'string', maxLength: 20000, description: 'TLS: client certificate (PEM)' },
            key: { type: 'string', maxLength: 20000, description: 'TLS: client key, or ssh://: private key (PEM)' },
            advertise_addr: { type: 'string', maxLength: 100 },
          },
        },
        response: { 201: hostSchema, ...errors(400, 401, 403, 409, 422, 503) },
      },
    },
    async (req, reply) => {
      const user = requestUser(req);
      requireAdmin(user, 'add hosts');
      const { name, engine, ca, cert, key, advertise_addr } = req.body;
      const credentials = ca || cert || key ? { ca, cert, key } : undefined;
      const { host } = await addHost(deps(), { name, engine, credentials, advertiseAddr: advertise_addr });
      const view = (await swarmHosts(user, [host]))[0];
      return reply.code(201).header('location', hostUrl(host.name)).send(view);
    },
  );

  api.delete<{ Params: { id: string }; Querystring: { force?: boolean } }>(
    '/api/v1/hosts/:id',
    {
      schema: {
        summary: 'Drain a Swarm host, make it leave the Swarm and forget it (admin); `force` when its engine is gone',
        tags: TAGS,
        params: idParams,
        querystring: { type: 'object', properties: { force: { type: 'boolean' } } },
        response: { 204: { type: 'null' }, ...errors(401, 403, 404, 405, 409, 422, 503) },
      },
    },
    async (req, reply) => {
      const user = requestUser(req);
      requireAdmin(user, 'remove hosts');
      if (req.params.id === LOCAL) {
        reply.header('allow', 'GET');
        throw new SlipwayError('host_is_manager', "the local host is the server's own engine; it cannot be removed", {
          status: 405,
          hint: 'remove the Swarm hosts by name: DELETE /api/v1/hosts/NAME',
        });
      }
      await removeHost(deps(), req.params.id, { force: req.query.force });
      return reply.code(204).send();
    },
  );
}

/** A Swarm host in the API's host shape: `instances` counts, `tasks` names them. */
function swarmHostView(h: HostView) {
  return {
    id: h.name,
    name: h.name,
    engine: h.engine,
    node_id: h.nodeId,
    role: h.role,
    address: h.address,
    state: h.state,
    availability: h.availability,
    docker: { reachable: h.version !== null, version: h.version, error: null },
    cpus: h.cpus,
    memory: { total: h.memory },
    labels: h.labels,
    slots: h.slots,
    instances: h.instances.length,
    tasks: h.instances,
    url: hostUrl(h.name),
  };
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
