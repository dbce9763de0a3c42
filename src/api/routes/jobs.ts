import fs from 'node:fs';
import { PassThrough } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { appFor, mayUse } from '../../auth/access.js';
import { endedLine } from '../../auth/sessions.js';
import { describe, notFound } from '../../errors.js';
import type { Job, User } from '../../store/index.js';
import { openStream, requestUser } from '../auth.js';
import type { ApiContext } from '../context.js';
import { writeInto } from '../../pipeline/job-log.js';
import { parseJobId } from '../params.js';
import { acceptedView, jobUrl, jobView, releaseUrl } from '../present.js';
import { APP_PARAM, JOB_VIEW, errors, list, params, str } from '../schemas.js';

const TAGS = ['jobs'];
const JOB = params({ id: 'job id' });

/** `202 Accepted` + `Location: /api/v1/jobs/ID`: how every call that starts work answers. */
export function accepted(reply: FastifyReply, job: Job) {
  return reply.code(202).header('location', jobUrl(job.id)).send(acceptedView(job));
}

/**
 * Jobs: poll one until it ends (a succeeded job answers `303 See Other` to
 * the release it made), read or follow its log.
 */
export function registerJobs(api: FastifyInstance, ctx: ApiContext): void {
  const { store } = ctx;

  api.get<{ Params: { app: string }; Querystring: { limit?: string } }>(
    '/api/v1/apps/:app/jobs',
    {
      schema: {
        summary: "an app's deploy jobs, newest first",
        tags: TAGS,
        params: params({ app: APP_PARAM }),
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { limit: str('how many, 1 to 500 (default 50)', { pattern: '^[0-9]{1,6}$' }) },
        },
        response: { 200: list(JOB_VIEW), ...errors(400, 401, 404, 422) },
      },
    },
    async (req) => {
      const app = appFor(store, requestUser(req), req.params.app);
      const limit = Math.min(Math.max(Number(req.query.limit) || 50, 1), 500);
      return store.jobs.list(app.id, limit).map((j) => jobView(j, store.jobs.stages(j.id)));
    },
  );

  api.get<{ Params: { id: string } }>(
    '/api/v1/jobs/:id',
    {
      schema: {
        summary: 'one job; 303 to what it made (release, container, image) once it succeeded',
        tags: TAGS,
        params: JOB,
        response: { 200: JOB_VIEW, 303: { description: 'succeeded: Location is what it made', ...JOB_VIEW }, ...errors(401, 404, 422) },
      },
    },
    async (req, reply) => answerJob(ctx, jobFor(ctx, requestUser(req), req.params.id), reply),
  );

  api.get<{ Params: { id: string }; Querystring: { follow?: string } }>(
    '/api/v1/jobs/:id/log',
    {
      schema: {
        summary: "a job's log; ?follow=1 streams it until the job ends",
        tags: TAGS,
        params: JOB,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { follow: str('1, true or yes to follow', { maxLength: 10 }) },
        },
        produces: ['text/plain'],
        response: { 200: { type: 'string' }, ...errors(400, 401, 404, 422) },
      },
    },
    async (req, reply) => sendJobLog(ctx, req, jobFor(ctx, requestUser(req), req.params.id), req.query.follow, reply),
  );
}

/**
 * A job as a poller sees it: `303 See Other` to what a succeeded job made (its
 * release, container or image), else `200` with its status and error.
 */
export function answerJob(ctx: ApiContext, job: Job, reply: FastifyReply) {
  const body = jobView(job, ctx.store.jobs.stages(job.id));
  const made = job.resultUrl ?? (job.releaseVersion == null ? null : releaseUrl(job.appName, job.releaseVersion));
  if (job.status === 'succeeded' && made) return reply.code(303).header('location', made).send(body);
  // A hint for pollers; a job that is still queued or running changes within seconds.
  if (job.status === 'queued' || job.status === 'running') reply.header('retry-after', '2');
  return reply.send(body);
}

/**
 * A job's log as text; with `follow`, every line as the job writes it, until
 * it ends, or until the caller's access to the job's app is revoked.
 */
export function sendJobLog(ctx: ApiContext, req: FastifyRequest, job: Job, follow: string | undefined, reply: FastifyReply) {
  reply.header('content-type', 'text/plain; charset=utf-8').header('x-content-type-options', 'nosniff').header('cache-control', 'no-store');
  if (!['1', 'true', 'yes'].includes(String(follow ?? '').toLowerCase())) {
    return fs.existsSync(job.logPath) ? reply.send(fs.createReadStream(job.logPath)) : reply.send('');
  }
  // Every line as the pipeline writes it, until the job ends; a finished job's whole log at once.
  const out = new PassThrough();
  const gone = new AbortController();
  out.once('close', () => gone.abort());
  const end = (last?: string) => void (out.writable && out.end(last));
  const session = openStream(ctx.sessions, req, (reason) => end(endedLine(reason)));
  const done = (last?: string) => {
    session.close();
    end(last);
  };
  ctx.platform.queue.follow(job.id, writeInto(out), gone.signal).then(
    () => done(),
    (err) => done(` !     could not follow job ${job.id}: ${describe(err)}\n`),
  );
  session.useApp(job.appName);
  return reply.send(out);
}

/** A job of an app the caller may not see answers exactly like a job that does not exist. */
export function jobFor(ctx: ApiContext, user: User, id: string): Job {
  const job = ctx.store.jobs.get(parseJobId(id));
  const app = job && ctx.store.apps.byId(job.appId);
  if (!job || !app || !mayUse(user, app)) throw notFound(`job ${id}`, "list an app's jobs at /api/v1/apps/APP/jobs");
  return job;
}
