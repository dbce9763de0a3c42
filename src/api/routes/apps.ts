import type { FastifyInstance } from 'fastify';
import { appFor, visibleApps } from '../../auth/access.js';
import { requestUser } from '../auth.js';
import type { ApiContext } from '../context.js';
import { appView } from '../present.js';
import { APP_PARAM, APP_VIEW, errors, list, params } from '../schemas.js';

const TAGS = ['apps'];

export function registerApps(api: FastifyInstance, ctx: ApiContext): void {
  api.get(
    '/api/v1/apps',
    { schema: { summary: 'the apps you may use', tags: TAGS, response: { 200: list(APP_VIEW), ...errors(401) } } },
    async (req) => visibleApps(ctx.store, requestUser(req)).map(appView),
  );
  api.get<{ Params: { app: string } }>(
    '/api/v1/apps/:app',
    {
      schema: { summary: 'one app', tags: TAGS, params: params({ app: APP_PARAM }), response: { 200: APP_VIEW, ...errors(401, 404, 422) } },
    },
    async (req) => appView(appFor(ctx.store, requestUser(req), req.params.app)),
  );
}
