import { PassThrough, Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { errors } from '../schemas.js';
import { relayTo } from '../../logs/relay.js';
import { runCommand } from '../../commands/program.js';
import { endedLine } from '../../auth/sessions.js';
import { describe, invalid } from '../../errors.js';
import { openStream, requestUser } from '../auth.js';
import type { ApiContext } from '../context.js';

/** Commands that need a terminal the NDJSON channel cannot give. */
const NEEDS_TERMINAL = new Set(['enter']);
/** How long a command whose access was revoked may take to stop before its stream is ended anyway. */
const CUT_GRACE_MS = 2000;

/**
 * The remote CLI's channel: `POST /api/v1/cli {argv, stdin?}` runs the same
 * command program as SSH does, as the token's user (no server-side file
 * paths), and streams its output back as NDJSON lines — `{"out": …}`,
 * `{"err": …}`, then `{"exit": N}`. `GET /api/v1/cli` says who the token is,
 * which `slipway login` uses to check a token before storing it.
 */
export function registerCli(api: FastifyInstance, ctx: ApiContext): void {
  api.get(
    '/api/v1/cli',
    {
      schema: {
        summary: 'Who this token acts as (used by `slipway login`)',
        tags: ['cli'],
        response: {
          200: {
            type: 'object',
            properties: {
              user: { type: 'object', properties: { name: { type: 'string' }, role: { type: 'string' } } },
              version: { type: 'string' },
            },
          },
          ...errors(401),
        },
      },
    },
    async (req) => {
      const user = requestUser(req);
      return { user: { name: user.name, role: user.role }, version: ctx.version };
    },
  );

  api.post<{ Body: { argv: string[]; stdin?: string } }>(
    '/api/v1/cli',
    {
      schema: {
        summary: 'Run a slipway command as the token user; output streams back as NDJSON',
        tags: ['cli'],
        body: {
          type: 'object',
          required: ['argv'],
          additionalProperties: false,
          properties: {
            argv: {
              type: 'array',
              items: { type: 'string', maxLength: 65536 },
              maxItems: 1000,
              description: 'the command line, e.g. ["config:set", "myapp", "A=1"]',
            },
            stdin: { type: 'string', description: "the command's standard input (keys:add -, run)" },
          },
        },
        response: {
          200: { description: 'NDJSON lines: {"out": text}, {"err": text}, then {"exit": code}' },
          ...errors(400, 401, 413, 415, 422),
        },
      },
    },
    async (req, reply) => {
      const user = requestUser(req);
      const { argv, stdin } = req.body;
      if (NEEDS_TERMINAL.has(argv[0] ?? '')) {
        throw invalid(
          `\`${argv[0]}\` needs a terminal, which the remote CLI cannot give`,
          `use ssh: ssh -t -p ${ctx.settings.sshPort} slipway@${ctx.settings.publicHost} ${argv.join(' ')}`,
        );
      }
      const body = new PassThrough();
      const send = (msg: object) => void (body.writable && body.write(`${JSON.stringify(msg)}\n`));
      // Done once the response took it, so a slow client holds back `logs -f` instead of filling memory.
      const stream = (key: 'out' | 'err') => relayTo(body, (chunk) => `${JSON.stringify({ [key]: chunk.toString() })}\n`);
      // The client went away (Ctrl-C on `logs -f`), or its access did: commands that run until interrupted stop.
      const gone = new AbortController();
      const onGone = () => {
        gone.abort();
        if (!body.writableEnded) body.destroy();
      };
      // Closed while its token was checked: 'close' has already been emitted.
      if (reply.raw.destroyed) onGone();
      else reply.raw.on('close', onGone);
      let ended: string | undefined;
      const exit = (code: number) => {
        if (!body.writable) return;
        // A stream ended by a revocation says why, last, and never exits 0.
        if (ended !== undefined) send({ err: endedLine(ended) });
        send({ exit: ended === undefined ? code : code || 1 });
        body.end();
      };
      const session = openStream(ctx.sessions, req, (reason) => {
        ended = reason;
        gone.abort();
        setTimeout(() => exit(1), CUT_GRACE_MS).unref();
      });
      const io = {
        stdin: Readable.from(stdin === undefined ? [] : [stdin]),
        stdout: stream('out'),
        stderr: stream('err'),
        tty: false,
        signal: gone.signal,
        session,
      };
      runCommand(
        {
          store: ctx.store,
          layout: ctx.layout,
          settings: ctx.settings,
          user,
          io,
          local: false,
          platform: ctx.platform,
          source: `http ${ctx.clientAddress(req.raw)}`,
        },
        argv,
      )
        .catch((err) => {
          send({ err: ` !     ${describe(err)}\n` });
          return 1;
        })
        .then((code) => {
          session.close();
          exit(code);
        });
      return reply.header('content-type', 'application/x-ndjson; charset=utf-8').header('cache-control', 'no-store').send(body);
    },
  );
}
