import type { Writable } from 'node:stream';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { EventEmitter } from 'node:events';
import { StringDecoder } from 'node:string_decoder';

/** Lines are gathered and written together, so a build that floods its output costs one write per burst, not one per line. */
const FLUSH_CHARS = 64 * 1024;
const READ_CHUNK = 64 * 1024;
/**
 * Output past this much (build output, hooks) is counted, not written: a
 * build printing without end must not fill the disk. Slipway's own lines
 * (stages, errors) are always written, after a `[slipway: N lines dropped]`.
 */
export const MAX_JOB_LOG_CHARS = 32 * 1024 * 1024;

/**
 * A job's output, appended to its log file. Followers (the pusher's hook,
 * `jobs:log -f`, the API) read that file at their own pace (`followJobLog`):
 * nothing of the log is kept in memory, so a build printing without end
 * costs disk, never the daemon's memory, and a slow client slows only itself.
 */
export class JobLog extends EventEmitter {
  private readonly fd: number;
  private closed = false;
  private buffered: string[] = [];
  private bufferedChars = 0;
  private flushTimer?: NodeJS.Immediate;
  /** Bumped on every write to the file; a follower that read to the end waits for the next one. */
  private writes = 0;
  private size = 0;
  private dropped = 0;
  private masker?: { mask(text: string): string };
  /** Gets every line written (masked), as it is written: a deploy's lines for the app's log drains. */
  tee?: (line: string) => void;

  constructor(readonly file: string) {
    super();
    fs.mkdirSync(path.dirname(file), { recursive: true });
    this.fd = fs.openSync(file, 'a');
  }

  /** Hides secret values in every line written from now on (file and followers alike). */
  mask(masker: { mask(text: string): string }): void {
    this.masker = masker;
  }

  /** One line of output; Heroku-style `-----> ` headers and indented detail. */
  line(text: string): void {
    this.append(text, false);
  }

  stage(title: string): void {
    this.append(`-----> ${title}`, true);
  }

  /** Indented detail under the current stage, as Heroku prints it. */
  info(text: string): void {
    for (const l of text.split('\n')) this.append(`       ${l}`, true);
  }

  /** A failure line, Heroku's ` !     ` style. */
  error(text: string): void {
    this.append(` !     ${text}`, true);
  }

  /** `own`: a line of Slipway's, written even when the log is full. */
  private append(text: string, own: boolean): void {
    if (this.closed) return;
    if (!own && this.size >= MAX_JOB_LOG_CHARS) {
      this.dropped++;
      return;
    }
    if (this.dropped) this.noteDropped();
    const masked = this.masker ? this.masker.mask(text) : text;
    const data = masked.endsWith('\n') ? masked : `${masked}\n`;
    this.tee?.(masked);
    this.buffered.push(data);
    this.bufferedChars += data.length;
    this.size += data.length;
    // A full buffer is written at once (and synchronously: the source of the lines waits for the disk).
    if (this.bufferedChars >= FLUSH_CHARS) this.flush();
    else this.flushTimer ??= setImmediate(() => this.flush());
  }

  private noteDropped(): void {
    const n = this.dropped;
    this.dropped = 0;
    this.append(
      `       [slipway: ${n} line${n === 1 ? '' : 's'} dropped] (a job's log keeps its first ${MAX_JOB_LOG_CHARS / 1024 / 1024} MB of output)`,
      true,
    );
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** How many writes reached the file so far (see `followJobLog`). */
  get writeCount(): number {
    return this.writes;
  }

  close(): void {
    if (this.closed) return;
    if (this.dropped) this.noteDropped();
    this.flush();
    this.closed = true;
    fs.closeSync(this.fd);
    this.emit('end');
  }

  private flush(): void {
    if (this.flushTimer) clearImmediate(this.flushTimer);
    this.flushTimer = undefined;
    if (!this.buffered.length) return;
    const text = this.buffered.join('');
    this.buffered = [];
    this.bufferedChars = 0;
    try {
      fs.writeFileSync(this.fd, text);
    } catch {
      // A full disk loses these lines; it must not fail the deploy they describe (nor, from a timer, kill the daemon).
    }
    this.writes++;
    this.emit('written');
  }
}

export interface FollowJobLogOptions {
  file: string;
  /** The job's log while it runs: the follow then goes on until it is closed. Without it the file is read once to its end. */
  live?: JobLog;
  /** Gets the log in chunks, in order; the next chunk is read only once a returned promise settles. */
  onData: (chunk: string) => void | Promise<void>;
  /** Ends the follow early (the client went away). */
  signal?: AbortSignal;
}

/**
 * Streams a job's log from its first byte: whatever is in the file, then each
 * write as it happens, until the live log is closed and read to its end.
 */
export async function followJobLog(opts: FollowJobLogOptions): Promise<void> {
  const { live, signal } = opts;
  const handle = await fsp.open(opts.file, 'r').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (!handle) return;
  const decoder = new StringDecoder('utf8');
  const buf = Buffer.alloc(READ_CHUNK);
  let offset = 0;
  try {
    while (!signal?.aborted) {
      // Taken before reading: what was written before the close is then surely read.
      const ended = !live || live.isClosed;
      const seen = live?.writeCount;
      for (;;) {
        const { bytesRead } = await handle.read(buf, 0, READ_CHUNK, offset);
        if (bytesRead === 0 || signal?.aborted) break;
        offset += bytesRead;
        const text = decoder.write(buf.subarray(0, bytesRead));
        if (text) await opts.onData(text);
      }
      if (ended) break;
      if (live!.writeCount === seen && !live!.isClosed) await nextWrite(live!, signal);
    }
    const rest = decoder.end();
    if (rest && !signal?.aborted) await opts.onData(rest);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

function nextWrite(log: JobLog, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      log.off('written', done);
      log.off('end', done);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    log.once('written', done);
    log.once('end', done);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * `onData` for `followJobLog` that writes into `out` and waits while `out` is
 * full, so a slow reader holds back the follow instead of piling up in memory.
 */
export function writeInto(out: Writable): (chunk: string) => void | Promise<void> {
  return (chunk) => {
    if (!out.writable || out.write(chunk)) return undefined;
    return new Promise<void>((resolve) => {
      const done = () => {
        out.off('drain', done);
        out.off('close', done);
        out.off('error', done);
        resolve();
      };
      out.once('drain', done);
      out.once('close', done);
      out.once('error', done);
    });
  };
}
