import { spawn } from 'node:child_process';
import readline from 'node:readline';
import type { ChildOwner } from '../runtime/orphans.js';
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
  /** Marks the child and records its group, so nothing of it outlives its job or a crash of the daemon. */
  owner?: ChildOwner;
}

/** Spawns a program (argument array, no shell) and streams its output into the job log line by line. */
export function runLogged(opts: RunLoggedOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    // Its own process group, so the group recorded for a restarted daemon holds only what this hook started.
    const child = spawn(opts.command, opts.args, { cwd: opts.cwd, env: { ...opts.env, ...opts.owner?.env }, stdio: ['ignore', 'pipe', 'pipe'], signal: opts.signal, detached: !!opts.owner });
    const disown = child.pid === undefined || !opts.owner ? undefined : opts.owner.adopt(child.pid);
    const indent = opts.indent ?? '       ';
    for (const stream of [child.stdout, child.stderr]) {
      readline.createInterface({ input: stream, crlfDelay: Infinity }).on('line', (l) => opts.log.line(indent + l));
    }
    child.on('error', (err) => {
      disown?.();
      reject(err);
    });
    child.on('close', (code, signal) => {
      disown?.();
      resolve(code ?? (signal ? 128 : 1));
    });
  });
}
