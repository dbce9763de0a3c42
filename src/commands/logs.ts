import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { appFor } from '../auth/access.js';
import { invalid } from '../errors.js';
import { lineFilter, parseProcessFilter } from '../logs/filter.js';
import { followLog } from '../logs/follow.js';
import { closeCursor, readTail } from '../logs/tail.js';
import type { CommandContext } from './context.js';

const MAX_LINES = 100_000;

const parseLines = (v: string): number => {
  if (!/^\d{1,6}$/.test(v) || Number(v) > MAX_LINES)
    throw invalid(`--num must be a number of lines from 0 to ${MAX_LINES}, not ${JSON.stringify(v.slice(0, 20))}`);
  return Number(v);
};

export function registerLogs(program: Command, ctx: CommandContext): void {
  program
    .command('logs')
    .description("show an app's process output (timestamped, by instance); -f keeps following it")
    .argument('<app>')
    .option('-n, --num <lines>', 'how many of the last lines to show', '100')
    .option('-f, --tail', 'keep printing new lines until interrupted')
    .option('--ps <process>', 'only one process type (web) or instance (web.1)')
    .action(async (name: string, o: { num: string; tail?: boolean; ps?: string }) => {
      const app = appFor(ctx.store, ctx.user, name);
      const lines = parseLines(o.num);
      const keep = lineFilter(o.ps === undefined ? undefined : parseProcessFilter(o.ps));
      const file = path.join(ctx.layout.logs(app.name), 'app.log');
      const tail = await readTail({ file, lines, keep });
      if (!o.tail) {
        await closeCursor(tail.cursor);
        if (tail.lines.length) ctx.io.stdout.write(`${tail.lines.join('\n')}\n`);
        else if (!fs.existsSync(file)) ctx.io.stderr.write(`No logs for ${app.name} yet: its processes have not run. Push to deploy it.\n`);
        return;
      }
      // From here on the session follows this app: losing access to it ends the follow.
      ctx.io.session?.useApp(app.name);
      const stop = clientGone(ctx);
      try {
        if (tail.lines.length) await write(ctx, `${tail.lines.join('\n')}\n`, stop.signal);
        await followLog({
          file,
          cursor: tail.cursor,
          signal: stop.signal,
          onLines: (batch) => {
            const wanted = batch.filter(keep);
            return wanted.length ? write(ctx, `${wanted.join('\n')}\n`, stop.signal) : undefined;
          },
        });
      } finally {
        stop.dispose();
        await closeCursor(tail.cursor);
      }
    });
}

/**
 * Aborts when the client is gone: the entrance says so (`io.signal`: the
 * control socket or the SSH channel closed), or the output stream itself
 * closes or fails. A follow has no other end, so this is what stops it.
 */
function clientGone(ctx: CommandContext): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const abort = () => controller.abort();
  const { stdout, signal } = ctx.io;
  if (signal?.aborted) abort();
  signal?.addEventListener('abort', abort, { once: true });
  stdout.once('close', abort);
  stdout.once('error', abort);
  return {
    signal: controller.signal,
    dispose: () => {
      signal?.removeEventListener('abort', abort);
      stdout.off('close', abort);
      stdout.off('error', abort);
    },
  };
}

/** Writes and waits while the client is slow, so a follow never buffers without bound. */
function write(ctx: CommandContext, text: string, signal: AbortSignal): Promise<void> {
  const { stdout } = ctx.io;
  if (signal.aborted || stdout.write(text)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      stdout.off('drain', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    stdout.once('drain', done);
    signal.addEventListener('abort', done, { once: true });
  });
}
