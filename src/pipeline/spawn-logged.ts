import { spawn } from 'node:child_process';
import { splitLines } from '../build/run-streaming.js';
import type { JobLog } from './job-log.js';

export interface RunLoggedOptions {
  command: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  log: JobLog;
  signal?: AbortSignal;
  /** Prefix for each output line; Heroku indents detail by seven spaces. */
  indent?: string;
}

/** Spawns a program (argument array, no shell) and streams its output into the job log line by line. */
export function runLogged(opts: RunLoggedOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(opts.command, opts.args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'], signal: opts.signal });
    const indent = opts.indent ?? '       ';
    // Not readline: it holds a line without a newline whole, however long it grows.
    for (const stream of [child.stdout, child.stderr]) splitLines(stream, (l) => opts.log.line(indent + l));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}
