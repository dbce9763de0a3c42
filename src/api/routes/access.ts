import type { FastifyInstance } from 'fastify';
import { appFor } from '../../auth/access.js';
import { checkUserName } from '../../auth/names.js';
import { auditFor, parseLimit } from '../../auth/audit.js';
import { SlipwayError, notFound } from '../../errors.js';
import type { App, AuditEntry, Store, User } from '../../store/index.js';
import { requestUser } from '../auth.js';
import type { ApiContext } from '../context.js';

const iso = (ms: number) => new Date(ms).toISOString();

function accessView(store: Store, app: App) {
  return {
    app: app.name,
    owner: app.ownerName,
    collaborators: store.collaborators.list(app.id).map((c) => ({ user: c.userName, added_by: c.addedBy, created_at: iso(c.createdAt) })),
  };
}

export function auditView(e: AuditEntry) {
  return { id: e.id, at: iso(e.at), user: e.userName, action: e.action, app: e.appName, detail: e.detail, source: e.source, outcome: e.outcome };
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

  api.get<{ Params: { app: string } }>('/api/v1/apps/:app/collaborators', async (req) => accessView(store, appFor(store, requestUser(req), req.params.app)));

  api.put<UserParams>('/api/v1/apps/:app/collaborators/:user', async (req) => {
    const caller = requestUser(req);
    const app = appFor(store, caller, req.params.app, 'manage');
    const u = userNamed(store, req.params.user);
    if (u.id === app.ownerId) throw new SlipwayError('already_owner', `${u.name} owns ${app.name} already`, { status: 409 });
    store.collaborators.add(app.id, u.id, caller.name);
    return accessView(store, app);
  });

  api.delete<UserParams>('/api/v1/apps/:app/collaborators/:user', async (req) => {
    const caller = requestUser(req);
    const app = appFor(store, caller, req.params.app, req.params.user === caller.name ? 'use' : 'manage');
    const u = userNamed(store, req.params.user);
    if (!store.collaborators.remove(app.id, u.id)) throw notFound(`collaborator ${u.name} of ${app.name}`);
    return accessView(store, app);
  });

  api.get<{ Params: { app: string }; Querystring: { limit?: string } }>('/api/v1/apps/:app/audit', async (req) =>
    auditFor({ store, user: requestUser(req) }, { app: req.params.app, limit: parseLimit(req.query.limit) }).map(auditView),
  );

  api.get<{ Querystring: { app?: string; limit?: string } }>('/api/v1/audit', async (req) =>
    auditFor({ store, user: requestUser(req) }, { app: req.query.app || undefined, limit: parseLimit(req.query.limit) }).map(auditView),
  );
}
