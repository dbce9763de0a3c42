import type { FastifyInstance, FastifyReply } from 'fastify';
import { appFor, visibleApps } from '../../auth/access.js';
import type { Job } from '../../store/index.js';
import { requestUser } from '../auth.js';
import type { ApiContext } from '../context.js';
import { acceptedView, jobView, queueUrl } from '../present.js';
import { errorResponses, idParams, jobSchema } from '../runtime-schemas.js';
import { list } from '../schemas.js';
import { answerJob, jobFor, sendJobLog } from './jobs.js';

const TAGS = ['queue'];

/** `202 Accepted` + `Location: /api/v1/queue/ID`: how the 001 seed's asynchronous calls answer. */
export function acceptedInQueue(reply: FastifyReply, job: Job) {
  return reply
    .code(202)
    .header('location', queueUrl(job.id))
    .send({ ...acceptedView(job), url: queueUrl(job.id), log_url: `${queueUrl(job.id)}/log` });
}

/**
 * The queue of the 001 seed is the jobs resource under another name: the same
 * rows, the same answers (`303 See Other` to what a succeeded job made, `200`
 * with the status and error otherwise), so either URL works for any job.
 */
export function registerQueue(api: FastifyInstance, ctx: ApiContext): void {
  const { store } = ctx;

  api.get<{ Querystring: { app?: string; limit?: string } }>(
    '/api/v1/queue',
    {
      schema: {
        summary: 'Jobs of the apps you may see, newest first',
        tags: TAGS,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            app: { type: 'string', maxLength: 100 },
            limit: { type: 'string', pattern: '^[0-9]{1,6}$', description: 'how many, 1 to 500 (default 50)' },
          },
        },
        response: { 200: list(jobSchema), ...errorResponses },
      },
    },
    async (req) => {
      const user = requestUser(req);
      const limit = Math.min(Math.max(Number(req.query.limit) || 50, 1), 500);
      const apps = req.query.app ? [appFor(store, user, req.query.app)] : visibleApps(store, user);
      const jobs =
        user.role === 'admin' && !req.query.app ? store.jobs.list(undefined, limit) : apps.flatMap((a) => store.jobs.list(a.id, limit));
      return jobs
        .sort((a, b) => b.id - a.id)
        .slice(0, limit)
        .map((j) => jobView(j, store.jobs.stages(j.id)));
    },
  );

  api.get<{ Params: { id: string } }>(
    '/api/v1/queue/:id',
    {
      schema: {
        summary: 'One job: 303 See Other to what it made once it succeeded, else 200 with its status',
        tags: TAGS,
        params: idParams,
        response: { 200: jobSchema, 303: jobSchema, ...errorResponses },
      },
    },
    async (req, reply) => answerJob(ctx, jobFor(ctx, requestUser(req), req.params.id), reply),
  );

  api.get<{ Params: { id: string }; Querystring: { follow?: string } }>(
    '/api/v1/queue/:id/log',
    {
      schema: {
        summary: "A job's log as text; follow=1 streams it until the job ends",
        tags: TAGS,
        params: idParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { follow: { type: 'string', maxLength: 10, description: '1, true or yes to follow' } },
        },
        produces: ['text/plain'],
        response: { 200: { type: 'string' }, ...errorResponses },
      },
    },
    async (req, reply) => sendJobLog(ctx, req, jobFor(ctx, requestUser(req), req.params.id), req.query.follow, reply),
  );
}
