import fs from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { ApiContext } from '../api/context.js';
import { jobFor } from '../api/routes/jobs.js';
import { appFor, visibleApps } from '../auth/access.js';
import { newLoginCsrf, page, requireSession, takeFlash } from './frame.js';
import { cookieName, overHttps, sessionOf } from './session.js';
import { runAs } from './command.js';
import { appDetail, appSummary, deploysOf, took, when } from './views.js';
import { jobView } from '../api/present.js';

export const LOGIN_CSRF_COOKIE = 'slipway_login_csrf';
/** Largest stored job log shown on a page; the API serves the whole file. */
const MAX_LOG_BYTES = 512 * 1024;

type AppParams = { Params: { app: string } };

/** The GET pages: each reads through the same permission check as the API (visibleApps, appFor, jobFor). */
export function registerPages(web: FastifyInstance, ctx: ApiContext): void {
  web.get('/login', async (req, reply) => {
    if (sessionOf(ctx, req)) return reply.redirect('/', 303);
    const loginCsrf = newLoginCsrf();
    // Path=/ and Secure under HTTPS: what a `__Host-` cookie needs (session.ts cookieName).
    reply.setCookie(cookieName(ctx, req, LOGIN_CSRF_COOKIE), loginCsrf, {
      path: '/',
      httpOnly: true,
      sameSite: 'strict',
      secure: overHttps(ctx, req),
      maxAge: 3600,
    });
    return page(reply, 'login', { title: 'Log in', loginCsrf, flash: takeFlash(req, reply) });
  });

  web.get('/', async (req, reply) => {
    const session = requireSession(ctx, req);
    const apps = visibleApps(ctx.store, session.user).map((a) => appSummary(ctx, a));
    return page(reply, 'apps', { title: 'Apps', nav: 'apps', session, apps, flash: takeFlash(req, reply) });
  });

  web.get('/deploys', async (req, reply) => {
    const session = requireSession(ctx, req);
    const { active, failed } = deploysOf(ctx, visibleApps(ctx.store, session.user));
    return page(reply, 'deploys', { title: 'Deploys', nav: 'deploys', session, active, failed, flash: takeFlash(req, reply) });
  });

  web.get<AppParams>('/apps/:app', async (req, reply) => {
    const session = requireSession(ctx, req);
    const app = appFor(ctx.store, session.user, req.params.app);
    return page(reply, 'app', {
      title: app.name,
      nav: 'apps',
      session,
      app: appDetail(ctx, session.user, app),
      flash: takeFlash(req, reply),
    });
  });

  web.get<{ Params: { app: string; id: string } }>('/apps/:app/jobs/:id', async (req, reply) => {
    const session = requireSession(ctx, req);
    const app = appFor(ctx.store, session.user, req.params.app);
    const job = jobFor(ctx, session.user, req.params.id);
    if (job.appId !== app.id) return reply.redirect(`/apps/${job.appName}/jobs/${job.id}`, 303);
    return page(reply, 'job', {
      title: `Job ${job.id}`,
      nav: 'apps',
      session,
      app: app.name,
      job: jobView(job, []),
      when: when(job.createdAt),
      took: took(job),
      live: job.status === 'running' || job.status === 'queued',
      log: readLog(job.logPath),
      flash: takeFlash(req, reply),
    });
  });

  web.get<AppParams & { Querystring: { ps?: string } }>('/apps/:app/logs', async (req, reply) => {
    const session = requireSession(ctx, req);
    const app = appFor(ctx.store, session.user, req.params.app);
    const ps = typeof req.query.ps === 'string' && req.query.ps ? req.query.ps.slice(0, 64) : undefined;
    // The same `logs` command the CLI runs: its filter, its checks, its message when there is nothing yet.
    const shown = await runAs(ctx, req, session.user, ['logs', '-n', '100', ...(ps ? ['--ps', ps] : []), '--', app.name], 10_000);
    const live = app.currentRelease == null ? undefined : ctx.store.releases.get(app.id, app.currentRelease);
    const types = Object.keys(live?.processTypes ?? {}).filter((t) => t !== 'release');
    return page(reply, 'logs', { title: `Logs of ${app.name}`, nav: 'apps', session, app: app.name, ps, types, log: shown.output });
  });
}

function readLog(file: string): string {
  try {
    const size = fs.statSync(file).size;
    if (size <= MAX_LOG_BYTES) return fs.readFileSync(file, 'utf8');
    const fd = fs.openSync(file, 'r');
    try {
      const buf = Buffer.alloc(MAX_LOG_BYTES);
      fs.readSync(fd, buf, 0, MAX_LOG_BYTES, size - MAX_LOG_BYTES);
      return `… (the first ${size - MAX_LOG_BYTES} bytes are left out; the API has the whole log)\n${buf.toString('utf8')}`;
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}
