import type { FastifyInstance } from 'fastify';
import { appFor, visibleApps } from '../../auth/access.js';
import { requestUser } from '../auth.js';
import type { ApiContext } from '../context.js';
import { appView } from '../present.js';

export function registerApps(api: FastifyInstance, ctx: ApiContext): void {
  api.get('/api/v1/apps', async (req) => visibleApps(ctx.store, requestUser(req)).map(appView));
  api.get<{ Params: { app: string } }>('/api/v1/apps/:app', async (req) => appView(appFor(ctx.store, requestUser(req), req.params.app)));
}
