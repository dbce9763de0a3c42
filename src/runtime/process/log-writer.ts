import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';

export interface LogWriterOptions {
  /** File lines are appended to; its directory is created. */
  file: string;
  /** Tag after the timestamp, e.g. `web.1`. */
  name: string;
  /** Where write errors go; a broken log must never take the app down. */
  onError?: (err: Error) => void;
}

/**
 * Appends an instance's output to its log file as
 * `2026-11-21T23:59:59.123Z web.1: <line>`, the shape `slipway logs` and the
 * Heroku log format readers expect. Each complete line is written as soon as it
 * arrives; only a trailing partial line waits (for its newline or the stream end).
 * Several instances may share one file: O_APPEND keeps each write whole.
 */
export class LogWriter {
  private readonly out: fs.WriteStream;
  private readonly name: string;
  private closed = false;

  constructor(opts: LogWriterOptions) {
    this.name = opts.name;
    fs.mkdirSync(path.dirname(opts.file), { recursive: true });
    this.out = fs.createWriteStream(opts.file, { flags: 'a' });
    this.out.on('error', (err) => opts.onError?.(err));
  }

  /** Copies a child's stdout or stderr into the log, line by line. */
  attach(stream: Readable): void {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const text = partial + chunk;
      const cut = text.lastIndexOf('\n');
      if (cut === -1) {
        partial = text;
        return;
      }
      partial = text.slice(cut + 1);
      this.lines(text.slice(0, cut).split('\n'), this.name);
    });
    stream.on('end', () => {
      if (partial) this.lines([partial], this.name);
      partial = '';
    });
    // A read error on a pipe only means the child went away; nothing to log.
    stream.on('error', () => undefined);
  }

  /** A line from Slipway itself about this instance (start, crash, stop). */
  note(message: string): void {
    this.lines([message], `slipway[${this.name}]`);
  }

  private lines(lines: string[], tag: string): void {
    if (this.closed) return;
    const stamp = new Date().toISOString();
    // One write per chunk keeps lines of one chunk together in a shared file.
    this.out.write(lines.map((l) => `${stamp} ${tag}: ${l.replace(/\r$/, '')}\n`).join(''));
  }

  /** Flushes what is buffered and closes the file. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return new Promise((resolve) => this.out.end(() => resolve()));
  }
}
