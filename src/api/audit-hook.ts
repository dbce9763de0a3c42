import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiContext } from './context.js';

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const REMOTE_CLI = '/api/v1/cli';

/**
 * Records every API call that changes something, once its answer is known
 * but before it is sent (so a client that got the answer finds the record):
 * who, which route, which app, from where and how it ended. Reads are not
 * recorded, like read-only commands. Bodies never are (they may hold secrets).
 */
export function auditMutations(api: FastifyInstance, ctx: Pick<ApiContext, 'store' | 'clientAddress'>): void {
  api.addHook('onSend', async (req: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    // The remote CLI's commands are recorded by runCommand, as from every other entrance.
    if (!MUTATING.has(req.method) || !req.slipwayUser || req.routeOptions.url === REMOTE_CLI) return payload;
    const status = reply.statusCode;
    const app = (req.params as { app?: unknown } | undefined)?.app;
    try {
      ctx.store.audit.record({
        userName: req.slipwayUser.name,
        action: `${req.method} ${req.routeOptions.url ?? req.url.split('?')[0]}`,
        appName: typeof app === 'string' ? app.slice(0, 100) : null,
        detail: { status },
        source: `http ${ctx.clientAddress(req.raw)}`,
        outcome: status < 400 ? 'ok' : status === 403 || status === 404 ? 'denied' : 'failed',
      });
    } catch {
      // The store closes on shutdown while the last answers drain; nothing to do then.
    }
    return payload;
  });
}
