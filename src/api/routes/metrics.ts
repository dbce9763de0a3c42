import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { requireAdmin } from '../../auth/access.js';
import { notFound } from '../../errors.js';
import { authenticate, tokenFrom } from '../auth.js';
import type { ApiContext } from '../context.js';
import { errors } from '../schemas.js';

/**
 * `GET /metrics`, Prometheus' text format: for the scrape token
 * (`--metrics-token-file`) or an admin's API token. Every series names apps,
 * so a member, who may see only some of them, is refused.
 */
export function registerMetrics(app: FastifyInstance, ctx: ApiContext): void {
  const scrape = ctx.metricsToken ? digest(ctx.metricsToken) : undefined;
  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics (scrape token or an admin token)',
        tags: ['meta'],
        produces: ['text/plain'],
        response: { 200: { type: 'string' }, ...errors(401, 403, 404) },
      },
    },
    async (req, reply) => {
      if (!ctx.metrics) throw notFound('metrics', 'this server was started without them');
      const token = tokenFrom(req.headers.authorization);
      if (!(scrape && token && timingSafeEqual(digest(token), scrape))) {
        const user = authenticate(ctx.gateway, req.headers.authorization);
        requireAdmin(user, 'read the metrics of every app (a scraper uses --metrics-token-file)');
      }
      const { text, contentType } = await ctx.metrics.exposition();
      return reply.header('content-type', contentType).header('cache-control', 'no-store').send(text);
    },
  );
}

const digest = (s: string) => createHash('sha256').update(s).digest();
