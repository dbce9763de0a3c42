import type { FastifyInstance } from 'fastify';
import { appFor } from '../../auth/access.js';
import { checkUserName } from '../../auth/names.js';
import { auditFor, parseLimit } from '../../auth/audit.js';
import { SlipwayError, notFound } from '../../errors.js';
import type { App, AuditEntry, Store, User } from '../../store/index.js';
import { requestUser } from '../auth.js';
import type { ApiContext } from '../context.js';
import { APP_PARAM, errors, params, str } from '../schemas.js';

const TAGS = ['access'];
const ACCESS_VIEW = {
  type: 'object',
  properties: {
    app: str('app name'),
    owner: str('owner user name'),
    collaborators: {
      type: 'array',
      items: {
        type: 'object',
        properties: { user: str('user name'), added_by: str('who added them'), created_at: str('when (ISO 8601)') },
      },
    },
  },
};
const AUDIT_VIEW = {
  type: 'array',
  items: {
    type: 'object',
    properties: {
      id: { type: 'integer' },
      at: str('when (ISO 8601)'),
      user: { type: ['string', 'null'], description: 'who (null: an unknown caller)' },
      action: str('what: a command, a push, an API call, a login'),
      app: { type: ['string', 'null'], description: 'which app' },
      detail: { type: 'object', description: 'keys, refs, status — never values of config vars' },
      source: str('from where: cli, ssh IP, http IP'),
      outcome: str('ok, failed or denied'),
    },
  },
};
const LIMIT = {
  type: 'object',
  additionalProperties: false,
  properties: { limit: str('how many, newest first (default 50)', { pattern: '^[0-9]{1,6}$' }) },
};
const USER_PARAMS = params({ app: APP_PARAM, user: 'user name' });

const iso = (ms: number) => new Date(ms).toISOString();

function accessView(store: Store, app: App) {
  return {
    app: app.name,
    owner: app.ownerName,
    collaborators: store.collaborators.list(app.id).map((c) => ({ user: c.userName, added_by: c.addedBy, created_at: iso(c.createdAt) })),
  };
}

export function auditView(e: AuditEntry) {
  return {
    id: e.id,
    at: iso(e.at),
    user: e.userName,
    action: e.action,
    app: e.appName,
    detail: e.detail,
    source: e.source,
    outcome: e.outcome,
  };
}

function userNamed(store: Store, name: string): User {
  const u = store.users.byName(checkUserName(name));
  if (!u) throw notFound(`user "${name}"`);
  return u;
}

/** Collaborators of an app (`access`, `access:add`, `access:remove` over HTTP) and the audit log. */
export function registerAccess(api: FastifyInstance, ctx: ApiContext): void {
  const { store } = ctx;
  type UserParams = { Params: { app: string; user: string } };

  api.get<{ Params: { app: string } }>(
    '/api/v1/apps/:app/collaborators',
    {
      schema: {
        summary: "an app's owner and collaborators",
        tags: TAGS,
        params: params({ app: APP_PARAM }),
        response: { 200: ACCESS_VIEW, ...errors(401, 404, 422) },
      },
    },
    async (req) => accessView(store, appFor(store, requestUser(req), req.params.app)),
  );

  api.put<UserParams>(
    '/api/v1/apps/:app/collaborators/:user',
    {
      schema: {
        summary: 'add a collaborator (owner or admin)',
        tags: TAGS,
        params: USER_PARAMS,
        response: { 200: ACCESS_VIEW, ...errors(401, 403, 404, 409, 422) },
      },
    },
    async (req) => {
      const caller = requestUser(req);
      const app = appFor(store, caller, req.params.app, 'manage');
      const u = userNamed(store, req.params.user);
      if (u.id === app.ownerId) throw new SlipwayError('already_owner', `${u.name} owns ${app.name} already`, { status: 409 });
      store.collaborators.add(app.id, u.id, caller.name);
      return accessView(store, app);
    },
  );

  api.delete<UserParams>(
    '/api/v1/apps/:app/collaborators/:user',
    {
      schema: {
        summary: 'remove a collaborator (owner or admin; or yourself)',
        tags: TAGS,
        params: USER_PARAMS,
        response: { 200: ACCESS_VIEW, ...errors(401, 403, 404, 422) },
      },
    },
    async (req) => {
      const caller = requestUser(req);
      const app = appFor(store, caller, req.params.app, req.params.user === caller.name ? 'use' : 'manage');
      const u = userNamed(store, req.params.user);
      if (!store.collaborators.remove(app.id, u.id)) throw notFound(`collaborator ${u.name} of ${app.name}`);
      return accessView(store, app);
    },
  );

  api.get<{ Params: { app: string }; Querystring: { limit?: string } }>(
    '/api/v1/apps/:app/audit',
    {
      schema: {
        summary: "an app's audit log, newest first",
        tags: TAGS,
        params: params({ app: APP_PARAM }),
        querystring: LIMIT,
        response: { 200: AUDIT_VIEW, ...errors(400, 401, 404, 422) },
      },
    },
    async (req) => auditFor({ store, user: requestUser(req) }, { app: req.params.app, limit: parseLimit(req.query.limit) }).map(auditView),
  );

  api.get<{ Querystring: { app?: string; limit?: string } }>(
    '/api/v1/audit',
    {
      schema: {
        summary: 'the audit log: everything for an admin, else the apps you may use',
        tags: TAGS,
        querystring: { ...LIMIT, properties: { ...LIMIT.properties, app: str('only this app', { maxLength: 100 }) } },
        response: { 200: AUDIT_VIEW, ...errors(400, 401, 404, 422) },
      },
    },
    async (req) =>
      auditFor({ store, user: requestUser(req) }, { app: req.query.app || undefined, limit: parseLimit(req.query.limit) }).map(auditView),
  );
}
