import { Readable, Writable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import type { ApiContext } from '../api/context.js';
import { runCommand } from '../commands/program.js';
import { describe } from '../errors.js';
import type { User } from '../store/index.js';

export interface CommandOutcome {
  /** Undefined while the command still runs (a deploy it follows): its job shows on the app page. */
  code?: number;
  output: string;
}

/**
 * Runs a slipway command as the user — the very program SSH, the host CLI and
 * `POST /api/v1/cli` run, so every rule and the audit log are theirs. Commands
 * that follow a deploy (rollback, promote, config:set) keep running after
 * `waitMs`; the page then shows their job.
 */
export async function runAs(ctx: ApiContext, req: FastifyRequest, user: User, argv: string[], waitMs = 1500): Promise<CommandOutcome> {
  let output = '';
  const sink = () =>
    new Writable({
      write(chunk, _enc, cb) {
        if (output.length < 64 * 1024) output += chunk.toString();
        cb();
      },
    });
  const io = { stdin: Readable.from([]), stdout: sink(), stderr: sink(), tty: false };
  const ran = runCommand(
    {
      store: ctx.store,
      layout: ctx.layout,
      settings: ctx.settings,
      user,
      io,
      local: false,
      platform: ctx.platform,
      source: `dashboard ${ctx.clientAddress(req.raw)}`,
    },
    argv,
  ).catch((err) => {
    output += ` !     ${describe(err)}\n`;
    return 1;
  });
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([ran, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), waitMs)))]);
  clearTimeout(timer);
  return { code, output };
}
