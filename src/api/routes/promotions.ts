import type { FastifyInstance } from 'fastify';
import { appFor } from '../../auth/access.js';
import { invalid } from '../../errors.js';
import { promote } from '../../pipeline/deploys.js';
import { requestUser } from '../auth.js';
import type { ApiContext } from '../context.js';
import { parseVersion } from '../params.js';
import { ACCEPTED_VIEW, APP_PARAM, errors, params, str } from '../schemas.js';
import { accepted } from './jobs.js';
import { settingsOf } from '../../apps/settings.js';

/**
 * `POST /api/v1/apps/TARGET/promotions {"from": "STAGING", "version": "v3"}`:
 * the staging release's archive, unchanged, as a new release of TARGET with
 * TARGET's config. `from` defaults to the target's `upstream` setting.
 */
export function registerPromotions(api: FastifyInstance, ctx: ApiContext): void {
  api.post<{ Params: { app: string }; Body: unknown }>(
    '/api/v1/apps/:app/promotions',
    {
      schema: {
        summary: "deploy a staging app's release archive, unchanged, to this app",
        tags: ['releases'],
        params: params({ app: APP_PARAM }),
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            from: str("the app to promote from (default: this app's upstream setting)"),
            version: { type: ['string', 'integer'], description: 'its release, v3 or 3 (default: its live release)' },
          },
        },
        response: { 202: ACCEPTED_VIEW, ...errors(400, 401, 404, 409, 413, 415, 422) },
      },
    },
    async (req, reply) => {
      const user = requestUser(req);
      const to = appFor(ctx.store, user, req.params.app);
      const body = req.body ?? {};
      if (typeof body !== 'object' || Array.isArray(body))
        throw invalid('the body must be a JSON object', '{"from": "myapp-staging", "version": "v3"}');
      const { from: fromName = settingsOf(to).get('upstream'), version } = body as { from?: unknown; version?: unknown };
      if (typeof fromName !== 'string' || !fromName) {
        throw invalid(
          'say which app to promote from',
          `send {"from": "STAGING_APP"}, or set it once: slipway apps:set ${to.name} upstream=STAGING_APP`,
        );
      }
      const from = appFor(ctx.store, user, fromName);
      if (from.id === to.id) throw invalid('an app cannot be promoted to itself', 'to go back to an earlier release, roll back instead');
      const job = promote(ctx.platform, from, to, { userName: user.name }, version == null ? undefined : parseVersion(version));
      return accepted(reply, job);
    },
  );
}
