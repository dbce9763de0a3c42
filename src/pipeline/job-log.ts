import { Writable } from 'node:stream';
import fs from 'node:fs';
import path from 'node:path';
import { EventEmitter } from 'node:events';

/**
 * A job's output: appended to its log file and fanned out to everyone
 * following it (the pusher's hook, `jobs:log -f`, the API) as it is written.
 */
export class JobLog extends EventEmitter {
  private readonly fd: number;
  private closed = false;
  /** Everything written so far, so a follower that arrives late sees the whole log. */
  readonly history: string[] = [];
  private masker?: { mask(text: string): string };

  constructor(readonly file: string) {
    super();
    fs.mkdirSync(path.dirname(file), { recursive: true });
    this.fd = fs.openSync(file, 'a');
  }

  /** Hides secret values in every line written from now on (file, history and followers alike). */
  mask(masker: { mask(text: string): string }): void {
    this.masker = masker;
  }

  /** One line of output; Heroku-style `-----> ` headers and indented detail. */
  line(text: string): void {
    if (this.closed) return;
    const masked = this.masker ? this.masker.mask(text) : text;
    const data = masked.endsWith('\n') ? masked : `${masked}\n`;
    fs.writeSync(this.fd, data);
    this.history.push(data);
    this.emit('data', data);
  }

  stage(title: string): void {
    this.line(`-----> ${title}`);
  }

  /** Indented detail under the current stage, as Heroku prints it. */
  info(text: string): void {
    for (const l of text.split('\n')) this.line(`       ${l}`);
  }

  /** A failure line, Heroku's ` !     ` style. */
  error(text: string): void {
    this.line(` !     ${text}`);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    fs.closeSync(this.fd);
    this.emit('end');
  }
}

/** A Writable that feeds the job log line by line, indented as Heroku does. */
export function logStream(ctx: { log: JobLog }): Writable {
  let partial = '';
  return new Writable({
    write(chunk, _enc, cb) {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) ctx.log.line(`       ${l}`);
      cb();
    },
    final(cb) {
      if (partial) ctx.log.line(`       ${partial}`);
      cb();
    },
  });
}
