import type { FastifyInstance } from 'fastify';
import { appFor } from '../../auth/access.js';
import { invalid } from '../../errors.js';
import { DEFAULT_EGRESS } from '../../egress/index.js';
import { checkConfigChange } from '../../pipeline/buildpack-egress.js';
import { sealChanges, type ConfigChange } from '../../pipeline/config-changes.js';
import { startConfigRelease } from '../../pipeline/deploys.js';
import { MASK } from '../../secrets/masker.js';
import { isSealed } from '../../store/sealed.js';
import type { App } from '../../store/index.js';
import { requestUser } from '../auth.js';
import type { ApiContext } from '../context.js';
import { accepted } from './jobs.js';
import { APP_PARAM, errors, params } from '../schemas.js';

const appParams = params({ app: APP_PARAM });

const configView = {
  type: 'object',
  properties: {
    app: { type: 'string' },
    vars: { type: 'object', additionalProperties: { type: 'string' }, description: 'secret values are "********" unless revealed' },
    secret: { type: 'array', items: { type: 'string' }, description: 'names of the secret vars' },
  },
} as const;

/**
 * An app's config vars over the API. Listings mask secrets; `?reveal=1`
 * shows them, to anyone who may use the app (as `config --reveal` does, and
 * as `run -- printenv` would). A change is a config release, exactly as
 * `config:set` makes it.
 */
export function registerConfig(api: FastifyInstance, ctx: ApiContext): void {
  api.get<{ Params: { app: string }; Querystring: { reveal?: string } }>(
    '/api/v1/apps/:app/config',
    {
      schema: {
        summary: "An app's config vars, secrets masked",
        tags: ['config'],
        params: appParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { reveal: { type: 'string', description: '1 to show secret values' } },
        },
        response: { 200: configView, ...errors(400, 401, 404, 422) },
      },
    },
    async (req) => {
      const app = appFor(ctx.store, requestUser(req), req.params.app);
      return maskedConfig(ctx, app, ['1', 'true', 'yes'].includes(String(req.query.reveal ?? '').toLowerCase()));
    },
  );

  api.patch<{ Params: { app: string }; Body: { vars?: Record<string, string | null>; secret?: string[] } }>(
    '/api/v1/apps/:app/config',
    {
      schema: {
        summary: 'Set or unset config vars (a new config release)',
        description: 'Answers 202 with the job making the release, or 200 with the new config when the app has no live release yet.',
        tags: ['config'],
        params: appParams,
        body: {
          type: 'object',
          required: ['vars'],
          additionalProperties: false,
          properties: {
            vars: { type: 'object', additionalProperties: { type: ['string', 'null'] }, description: 'KEY: value, or null to unset' },
            secret: { type: 'array', items: { type: 'string' }, description: 'names among vars to keep secret' },
          },
        },
        response: {
          200: configView,
          202: { description: 'a config release is under way: Location is its job' },
          ...errors(400, 401, 404, 422),
        },
      },
    },
    async (req, reply) => {
      const user = requestUser(req);
      const app = appFor(ctx.store, user, req.params.app);
      const change = changeFrom(req.body);
      const current = ctx.store.apps.config(app.id);
      const gone = change.unset.filter((k) => !(k in current));
      if (gone.length && gone.length === change.unset.length && !Object.keys(change.set).length)
        throw invalid(`${app.name} has no config var ${gone.join(', ')}`);
      const box = ctx.platform.services.secrets!;
      const changes = sealChanges({ box, store: ctx.store, app, change });
      checkConfigChange(ctx.store, app, change, { admin: user.role === 'admin', settings: ctx.settings.egress ?? DEFAULT_EGRESS });
      const job = startConfigRelease({ store: ctx.store, queue: ctx.platform.queue, app, userName: user.name, changes });
      if (job) return accepted(reply, job);
      return maskedConfig(ctx, ctx.store.apps.byId(app.id)!, false);
    },
  );
}

function changeFrom(body: { vars?: Record<string, string | null>; secret?: string[] }): ConfigChange {
  const vars = body?.vars ?? {};
  if (!Object.keys(vars).length) throw invalid('no config vars to change', '{"vars": {"KEY": "value", "OLD": null}, "secret": ["KEY"]}');
  const set: Record<string, string> = {};
  const unset: string[] = [];
  for (const [k, v] of Object.entries(vars)) v === null ? unset.push(k) : (set[k] = v);
  return { set, unset, secret: body.secret ?? [] };
}

/** An app's config as every listing shows it: secrets masked unless revealed (the API and the dashboard). */
export function maskedConfig(ctx: ApiContext, app: App, reveal = false) {
  const config = ctx.store.apps.config(app.id);
  const secret = Object.keys(config).filter((k) => isSealed(config[k]!));
  const box = ctx.platform.services.secrets;
  const vars: Record<string, string> = {};
  for (const [k, v] of Object.entries(config)) vars[k] = !isSealed(v) ? v : reveal && box ? box.open(app.name, k, v) : MASK;
  return { app: app.name, vars, secret };
}
