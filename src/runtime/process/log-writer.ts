import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';

export interface LogWriterOptions {
  /** File lines are appended to; its directory is created. */
  file: string;
  /** Tag after the timestamp, e.g. `web.1`. */
  name: string;
  /** Where write errors go; a broken log must never take the app down. */
  onError?: (err: Error) => void;
  /**
   * Once the file has grown past this many bytes it is rotated to `FILE.1`
   * (`FILE.1` to `FILE.2` …). Default 10 MiB. The first writer of a file decides.
   */
  maxBytes?: number;
  /** Rotated files kept (`FILE.1` … `FILE.N`). Default 3. */
  keep?: number;
  /** Hides secret values (an app printing its env) before a line reaches the file. */
  mask?: { mask(text: string): string };
}

export const DEFAULT_LOG_MAX_BYTES = 10 * 1024 * 1024;
export const DEFAULT_LOG_KEEP = 3;

/**
 * Appends an instance's output to its log file as
 * `2026-11-21T23:59:59.123Z web.1: <line>`, the shape `slipway logs` and the
 * Heroku log format readers expect. Each complete line is written as soon as it
 * arrives; only a trailing partial line waits (for its newline or the stream end).
 *
 * Every instance of an app writes the same file, and the file rotates by size,
 * so the writers of one path share one `SharedLogFile` (see below): rotation
 * then happens once, between two writes, and every writer follows it.
 */
export class LogWriter {
  private readonly file: SharedLogFile;
  private readonly name: string;
  private readonly onError: (err: Error) => void;
  private readonly masker?: { mask(text: string): string };
  private closed = false;

  constructor(opts: LogWriterOptions) {
    this.name = opts.name;
    this.onError = opts.onError ?? (() => undefined);
    this.masker = opts.mask;
    this.file = SharedLogFile.acquire(path.resolve(opts.file), {
      maxBytes: opts.maxBytes ?? DEFAULT_LOG_MAX_BYTES,
      keep: opts.keep ?? DEFAULT_LOG_KEEP,
    });
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
    // One append per chunk keeps lines of one chunk together in a shared file.
    const text = lines.map((l) => `${stamp} ${tag}: ${l.replace(/\r$/, '')}\n`).join('');
    this.file.append(this.masker ? this.masker.mask(text) : text, this.onError);
  }

  /** Resolves once every line this writer wrote is in the file; the file closes with its last writer. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return this.file.release();
  }
}

interface Pending {
  text: string;
  onError?: (err: Error) => void;
  /** Resolved once this entry and everything before it was written (or failed). */
  done?: () => void;
}

/**
 * One log file and everyone writing it. All writers live in the daemon, so an
 * in-process registry by path is enough to make them share: appends queue up
 * and are written in order by a single loop, which also rotates the file when
 * it is full. Renaming happens only after everything queued before it is
 * written and before anything after it is, so `FILE.1` ends on a whole line and
 * a reader that follows the rename (`slipway logs -f`) misses nothing.
 */
class SharedLogFile {
  private static readonly open = new Map<string, SharedLogFile>();

  private refs = 0;
  private queue: Pending[] = [];
  private draining?: Promise<void>;
  private handle?: fsp.FileHandle;
  private size = 0;

  private constructor(
    private readonly file: string,
    private readonly opts: { maxBytes: number; keep: number },
  ) {}

  static acquire(file: string, opts: { maxBytes: number; keep: number }): SharedLogFile {
    let shared = SharedLogFile.open.get(file);
    // Every time: a destroyed and recreated app gets its logs/ folder back.
    fs.mkdirSync(path.dirname(file), { recursive: true });
    if (!shared) SharedLogFile.open.set(file, (shared = new SharedLogFile(file, opts)));
    shared.refs++;
    return shared;
  }

  append(text: string, onError: (err: Error) => void): void {
    this.queue.push({ text, onError });
    this.kick();
  }

  /**
   * One writer is done: resolves when its lines are written — not when the
   * queue is empty, which a chatty neighbour could put off for ever. The last
   * writer's release also closes the file.
   */
  release(): Promise<void> {
    this.refs--;
    return new Promise((done) => {
      this.queue.push({ text: '', done });
      this.kick();
    });
  }

  private kick(): void {
    this.draining ??= this.drain()
      .catch(() => undefined)
      .finally(() => {
        this.draining = undefined;
        // Whatever arrived while the last close was under way.
        if (this.queue.length) this.kick();
      });
  }

  private async drain(): Promise<void> {
    while (this.queue.length) {
      let batch = this.queue;
      try {
        if (this.queue.some((p) => p.text) && !this.handle) {
          this.handle = await fsp.open(this.file, 'a');
          this.size = (await this.handle.stat()).size;
        }
        batch = this.takeBatch();
        const text = batch.map((p) => p.text).join('');
        if (text) {
          await this.handle!.appendFile(text);
          this.size += Buffer.byteLength(text);
          if (this.size >= this.opts.maxBytes) await this.rotate();
        }
      } catch (err) {
        if (batch === this.queue) this.queue = [];
        // Drop the handle so the next write tries afresh (a deleted directory, a full disk that recovered).
        await this.closeHandle();
        for (const onError of new Set(batch.map((p) => p.onError))) onError?.(err as Error);
      }
      for (const p of batch) p.done?.();
    }
    if (this.refs === 0) {
      await this.closeHandle();
      // A writer that arrived during the close keeps using this object (it reopens).
      if (this.refs === 0 && !this.queue.length && SharedLogFile.open.get(this.file) === this) SharedLogFile.open.delete(this.file);
    }
  }

  /**
   * Takes queued appends as one write, but no more than still fit before the
   * size limit (at least one), so a file overshoots it by one chunk at most.
   */
  private takeBatch(): Pending[] {
    const room = this.opts.maxBytes - this.size;
    let bytes = 0;
    let n = 0;
    for (const p of this.queue) {
      const len = Buffer.byteLength(p.text);
      if (n > 0 && bytes + len > room) break;
      bytes += len;
      n++;
    }
    return this.queue.splice(0, n);
  }

  /** FILE.(keep-1) → FILE.keep … FILE → FILE.1; the next write opens a fresh FILE. */
  private async rotate(): Promise<void> {
    await this.closeHandle();
    for (let i = this.opts.keep - 1; i >= 0; i--) {
      const from = i === 0 ? this.file : `${this.file}.${i}`;
      await fsp.rename(from, `${this.file}.${i + 1}`).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
    }
    if (this.opts.keep < 1) await fsp.truncate(this.file, 0);
    this.size = 0;
  }

  private async closeHandle(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close().catch(() => undefined);
  }
}
