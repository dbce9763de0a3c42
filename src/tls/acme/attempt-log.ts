import fs from 'node:fs';
import path from 'node:path';
import type { Job, Store } from '../../store/index.js';
import type { Layout } from '../../store/layout.js';

/**
 * One ACME attempt as a job (kind `cert`): its lines go to the job log that
 * `jobs:log` and the API show, and to whoever started it (certs:auto prints
 * them). The log is written line by line as a finished job's file is read:
 * a renewal is short and nobody follows it live.
 */
export class AttemptLog {
  readonly job: Job;

  constructor(
    private readonly store: Store,
    layout: Layout,
    opts: { appId: number; appName: string; user: string; params: object },
    private readonly echo?: (line: string) => void,
  ) {
    this.job = store.jobs.create({
      appId: opts.appId,
      kind: 'cert',
      mode: 'task',
      commit: null,
      userName: opts.user,
      params: opts.params,
      logPath: (id) => layout.jobLog(opts.appName, id),
    });
    fs.mkdirSync(path.dirname(this.job.logPath), { recursive: true });
    store.jobs.start(this.job.id);
  }

  /** A Heroku-style `-----> ` step. */
  stage(text: string): void {
    this.write(`-----> ${text}`);
  }

  /** A ` !     ` line: what went wrong. Not echoed: the caller gets it as the error itself. */
  error(text: string): void {
    this.write(` !     ${text}`, false);
  }

  end(error?: string): void {
    this.store.jobs.finish(this.job.id, error === undefined ? 'succeeded' : 'failed', error);
  }

  private write(line: string, echo = true): void {
    try {
      fs.appendFileSync(this.job.logPath, `${line}\n`);
    } catch {
      /* a full disk loses the log line, not the certificate */
    }
    if (echo) this.echo?.(line);
  }
}
