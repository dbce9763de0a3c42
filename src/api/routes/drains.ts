import type { FastifyInstance } from 'fastify';
import { appFor } from '../../auth/access.js';
import { addDrain, listDrains, removeDrain, type DrainDeps, type DrainView } from '../../drains/admin.js';
import { DEFAULT_EGRESS } from '../../egress/index.js';
import { invalid } from '../../errors.js';
import { requestUser } from '../auth.js';
import type { ApiContext } from '../context.js';
import { APP_PARAM, errors, list, params, str } from '../schemas.js';

const DRAIN_VIEW = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    url: str('the receiver, a token in it masked'),
    token: str('sent as Logplex-Drain-Token'),
    created_at: str('when it was added (ISO 8601)'),
    delivered: { type: ['integer', 'null'], description: 'lines delivered since the server started; null when not running' },
    dropped: { type: ['integer', 'null'], description: 'lines dropped (refused, queue full) since the server started' },
    queued: { type: ['integer', 'null'] },
    last_error: { type: ['string', 'null'] },
    last_error_at: { type: ['string', 'null'], description: 'ISO 8601' },
  },
} as const;

const present = (d: DrainView) => ({
  id: d.id,
  url: d.url,
  token: d.token,
  created_at: new Date(d.createdAt).toISOString(),
  delivered: d.stats?.delivered ?? null,
  dropped: d.stats?.dropped ?? null,
  queued: d.stats?.queued ?? null,
  last_error: d.stats?.lastError ?? null,
  last_error_at: d.stats?.lastErrorAt ? new Date(d.stats.lastErrorAt).toISOString() : null,
});

/** An app's log drains over the API: the same checks and code as `drains`, `drains:add` and `drains:remove`. */
export function registerDrains(api: FastifyInstance, ctx: ApiContext): void {
  const deps = (): DrainDeps => ({
    store: ctx.store,
    secrets: ctx.platform.services.secrets!,
    egress: ctx.settings.egress ?? DEFAULT_EGRESS,
    manager: ctx.platform.services.drains,
  });

  api.get<{ Params: { app: string } }>(
    '/api/v1/apps/:app/drains',
    {
      schema: {
        summary: "An app's log drains, with lines delivered and dropped",
        tags: ['drains'],
        params: params({ app: APP_PARAM }),
        response: { 200: list(DRAIN_VIEW), ...errors(401, 404) },
      },
    },
    async (req) => listDrains(deps(), appFor(ctx.store, requestUser(req), req.params.app)).map(present),
  );

  api.post<{ Params: { app: string }; Body: { url: string } }>(
    '/api/v1/apps/:app/drains',
    {
      schema: {
        summary: "Add a log drain: the app's lines go to URL",
        tags: ['drains'],
        params: params({ app: APP_PARAM }),
        body: {
          type: 'object',
          required: ['url'],
          additionalProperties: false,
          properties: { url: str('syslog+tls://HOST:PORT, syslog://HOST:PORT or https://…', { maxLength: 4000 }) },
        },
        response: { 201: DRAIN_VIEW, ...errors(400, 401, 404, 409, 422) },
      },
    },
    async (req, reply) => {
      const user = requestUser(req);
      const app = appFor(ctx.store, user, req.params.app);
      const drain = addDrain(deps(), app, req.body.url, user.role === 'admin');
      return reply.code(201).send(present(drain));
    },
  );

  api.delete<{ Params: { app: string; id: string } }>(
    '/api/v1/apps/:app/drains/:id',
    {
      schema: {
        summary: 'Remove a log drain by its id',
        tags: ['drains'],
        params: params({ app: APP_PARAM, id: 'drain id' }),
        response: { 200: DRAIN_VIEW, ...errors(401, 404) },
      },
    },
    async (req) => {
      const app = appFor(ctx.store, requestUser(req), req.params.app);
      return present(removeDrain(deps(), app, req.params.id));
    },
  );

  // A URL does not fit a path parameter (it has slashes): removing by URL names it in the query.
  api.delete<{ Params: { app: string }; Querystring: { url?: string } }>(
    '/api/v1/apps/:app/drains',
    {
      schema: {
        summary: 'Remove a log drain by its URL (as added, or as listed)',
        tags: ['drains'],
        params: params({ app: APP_PARAM }),
        querystring: { type: 'object', additionalProperties: false, properties: { url: str('the drain URL') } },
        response: { 200: DRAIN_VIEW, ...errors(400, 401, 404, 422) },
      },
    },
    async (req) => {
      const app = appFor(ctx.store, requestUser(req), req.params.app);
      // Checked after the app, so a caller who may not use it learns nothing more than for a missing app.
      if (!req.query.url) throw invalid('no drain URL given', `DELETE /api/v1/apps/${app.name}/drains?url=URL, or …/drains/ID`);
      return present(removeDrain(deps(), app, req.query.url));
    },
  );
}
