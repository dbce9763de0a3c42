import { Readable, Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { ApiContext } from '../api/context.js';
import { jobFor } from '../api/routes/jobs.js';
import { appFor } from '../auth/access.js';
import { runCommand } from '../commands/program.js';
import { describe } from '../errors.js';
import { requireSession } from './frame.js';
import { EventStream } from './sse.js';

/**
 * Live logs as Server-Sent Events: a job's build log (the queue's own
 * follower, as `GET /api/v1/jobs/ID/log?follow=1`) and an app's runtime log
 * (the `logs -f` command itself). Each is a live session of the user and
 * their token: revoking either, or the user's access to the app, ends it.
 */
export function registerStreams(web: FastifyInstance, ctx: ApiContext): void {
  web.get<{ Params: { app: string; id: string } }>('/apps/:app/jobs/:id/stream', async (req, reply) => {
    const session = requireSession(ctx, req);
    const app = appFor(ctx.store, session.user, req.params.app);
    const job = jobFor(ctx, session.user, req.params.id);
    if (job.appId !== app.id) return reply.code(404).send();
    const sse = new EventStream(reply);
    const live = ctx.sessions.open({ userId: session.user.id, tokenHash: session.tokenHash }, (reason) => sse.end('revoked', reason));
    live.useApp(app.name);
    let partial = '';
    ctx.platform.queue
      .follow(
        job.id,
        (chunk) => {
          const text = partial + chunk;
          const cut = text.lastIndexOf('\n');
          partial = cut < 0 ? text : text.slice(cut + 1);
          return cut < 0 ? undefined : sse.lines(text.slice(0, cut));
        },
        sse.closed.signal,
      )
      .then(
        (ended) => {
          if (partial) void sse.lines(partial);
          sse.end('end', ended.status);
        },
        (err) => {
          void sse.lines(` !     could not follow job ${job.id}: ${describe(err)}`);
          sse.end('end', 'failed');
        },
      )
      .finally(() => live.close());
  });

  web.get<{ Params: { app: string }; Querystring: { ps?: string } }>('/apps/:app/logs/stream', async (req, reply) => {
    const session = requireSession(ctx, req);
    const app = appFor(ctx.store, session.user, req.params.app);
    const ps = typeof req.query.ps === 'string' && req.query.ps ? req.query.ps.slice(0, 64) : undefined;
    const sse = new EventStream(reply);
    const stop = new AbortController();
    sse.closed.signal.addEventListener('abort', () => stop.abort());
    const live = ctx.sessions.open({ userId: session.user.id, tokenHash: session.tokenHash }, (reason) => {
      stop.abort();
      sse.end('revoked', reason);
    });
    let partial = '';
    const out = new Writable({
      write(chunk, _enc, cb) {
        const text = partial + chunk.toString();
        const cut = text.lastIndexOf('\n');
        partial = cut < 0 ? text : text.slice(cut + 1);
        const wrote = cut < 0 ? undefined : sse.lines(text.slice(0, cut));
        if (wrote) wrote.then(() => cb());
        else cb();
      },
    });
    const io = { stdin: Readable.from([]), stdout: out, stderr: out, tty: false, signal: stop.signal, session: live };
    runCommand(
      {
        store: ctx.store,
        layout: ctx.layout,
        settings: ctx.settings,
        user: session.user,
        io,
        local: false,
        platform: ctx.platform,
        source: `dashboard ${ctx.clientAddress(req.raw)}`,
      },
      ['logs', '-f', '-n', '100', ...(ps ? ['--ps', ps] : []), '--', app.name],
    )
      .catch((err) => void sse.lines(` !     ${describe(err)}`))
      .finally(() => {
        live.close();
        sse.end('end', 'ended');
      });
  });
}
