import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { SharedLogFile } from './shared-log-file.js';

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
  /**
   * What the file takes in the long run, and at once after a quiet spell;
   * faster output waits (its pipe fills). Default 4 MiB/s with bursts of
   * 8 MiB. The first writer of a file decides.
   */
  rate?: { bytesPerSecond: number; burstBytes: number };
}

export const DEFAULT_LOG_MAX_BYTES = 10 * 1024 * 1024;
export const DEFAULT_LOG_KEEP = 3;
export const DEFAULT_LOG_RATE = { bytesPerSecond: 4 * 1024 * 1024, burstBytes: 8 * 1024 * 1024 };

/**
 * Flow control. When a file's backlog (bytes queued, plus how far its writers
 * ran ahead of its rate) passes `PAUSE_BYTES`, the sources writing it are
 * paused until it is down to `RESUME_BYTES`: a pipe then fills and the
 * flooding process waits in write(2), as it would on a slow terminal.
 *
 * Why a rate and not only "as fast as the disk": every chunk read from a pipe
 * is a fresh buffer outside V8's heap, and V8 collects those only after tens
 * of MB of them. Read at disk speed, `yes` kept ~80 MB of such garbage in the
 * daemon; at 4 MiB/s of log, ~10 MB. It also keeps a flood from rotating
 * away an app's log history many times a second.
 *
 * A source that pause() cannot slow down (a PassThrough its producer writes
 * regardless of backpressure, as the container log demuxer does) still
 * buffers; once it holds `PAUSE_BYTES` it is read on for good, and its lines
 * that would take the backlog past `DROP_BYTES` are counted and dropped, then
 * stood for by one `[slipway: N lines dropped]` line.
 */
const PAUSE_BYTES = 256 * 1024;
const RESUME_BYTES = 64 * 1024;
const DROP_BYTES = 2 * 1024 * 1024;
/** How often a paused source is checked for buffering anyway. */
const PAUSED_CHECK_MS = 25;
/** A line without a newline after this many bytes is written as it is, so a partial line cannot grow without end. */
const MAX_LINE = 64 * 1024;

const NL = 0x0a;
const CR = 0x0d;

/**
 * Appends an instance's output to its log file as
 * `2026-11-21T23:59:59.123Z web.1: <line>`, the shape `slipway logs` and the
 * Heroku log format readers expect. Each complete line is written as soon as it
 * arrives; only a trailing partial line waits (for its newline or the stream end).
 *
 * Output is handled as bytes, a chunk at a time: a flood of short lines costs
 * a copy into one buffer per chunk, not a string per line.
 *
 * Every instance of an app writes the same file, and the file rotates by size,
 * so the writers of one path share one `SharedLogFile`: rotation then happens
 * once, between two writes, and every writer follows it.
 */
export class LogWriter {
  private readonly file: SharedLogFile;
  private readonly name: string;
  private readonly onError: (err: Error) => void;
  private readonly masker?: { mask(text: string): string };
  private closed = false;
  /** Lines of the app dropped since the last marker; the marker is written once the file has room again. */
  private dropped = 0;

  constructor(opts: LogWriterOptions) {
    this.name = opts.name;
    this.onError = opts.onError ?? (() => undefined);
    this.masker = opts.mask;
    this.file = SharedLogFile.acquire(path.resolve(opts.file), {
      maxBytes: opts.maxBytes ?? DEFAULT_LOG_MAX_BYTES,
      keep: opts.keep ?? DEFAULT_LOG_KEEP,
      resumeBytes: RESUME_BYTES,
      rateBytes: (opts.rate ?? DEFAULT_LOG_RATE).bytesPerSecond,
      burstBytes: (opts.rate ?? DEFAULT_LOG_RATE).burstBytes,
    });
  }

  /** Copies a child's stdout or stderr into the log, line by line, reading no faster than the file is written. */
  attach(stream: Readable): void {
    let partial: Buffer = Buffer.alloc(0);
    /** A wake-up is asked of the file; the stream itself may be resumed by others meanwhile (child_process does on exit). */
    let waiting = false;
    /** Cleared for good once the source buffered while paused: from then on it is read on, and dropped from when the file is behind. */
    let pausable = true;
    let check: NodeJS.Timeout | undefined;
    const resume = () => {
      clearInterval(check);
      check = undefined;
      if (!waiting) return;
      waiting = false;
      if (!stream.destroyed) stream.resume();
    };
    stream.on('data', (chunk: Buffer | string) => {
      let data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      if (partial.length) {
        // The line begun in an earlier chunk, completed: joined on its own, not by copying the whole chunk.
        const nl = data.indexOf(NL);
        const first = Buffer.concat([partial, nl === -1 ? data : data.subarray(0, nl + 1)]);
        data = nl === -1 ? first : data.subarray(nl + 1);
        partial = Buffer.alloc(0);
        if (nl !== -1) this.output(first, true);
      }
      let end = data.lastIndexOf(NL) + 1;
      // A newline-less run is written in pieces, cut where no UTF-8 character is split.
      if (end === 0 && data.length > MAX_LINE) end = charBoundary(data, MAX_LINE);
      if (end > 0) this.output(data.subarray(0, end), data[end - 1] === NL);
      // Copied: a small rest must not keep the whole chunk it came in alive.
      if (end < data.length) partial = Buffer.from(data.subarray(end));
      if (!pausable || this.closed || this.file.backlog <= PAUSE_BYTES) return;
      stream.pause();
      if (waiting) return;
      waiting = true;
      this.file.whenDrained(resume);
      check = setInterval(() => {
        if (stream.readableLength + ((stream as unknown as Partial<Writable>).writableLength ?? 0) < PAUSE_BYTES) return;
        pausable = false;
        resume();
      }, PAUSED_CHECK_MS);
      check.unref();
    });
    stream.on('end', () => {
      clearInterval(check);
      if (partial.length) this.output(partial, false);
      partial = Buffer.alloc(0);
    });
    stream.on('close', () => clearInterval(check));
    // A read error on a pipe only means the child went away; nothing to log.
    stream.on('error', () => undefined);
  }

  /** A line from Slipway itself about this instance (start, crash, stop); never dropped. */
  note(message: string): void {
    if (this.closed) return;
    this.flushDropped();
    const line = `${new Date().toISOString()} slipway[${this.name}]: ${message}\n`;
    this.file.append(Buffer.from(this.masker ? this.masker.mask(line) : line), this.onError);
  }

  /**
   * The app's own output, whole lines (the last one may lack its newline when
   * `complete` is false): stamped and written, or counted as dropped while the
   * file is too far behind.
   */
  private output(data: Buffer, complete: boolean): void {
    if (this.closed) return;
    if (this.file.backlog >= DROP_BYTES) {
      if (this.dropped === 0) this.file.whenDrained(() => this.flushDropped());
      this.dropped += countLines(data, complete);
      return;
    }
    this.flushDropped();
    if (this.masker) {
      // Masked before the stamps go in, so a secret is found wherever the lines of one chunk put it.
      const text = data.toString('utf8');
      const masked = this.masker.mask(text);
      if (masked !== text) data = Buffer.from(masked);
    }
    const head = Buffer.from(`${new Date().toISOString()} ${this.name}: `);
    const lines = countLines(data, data[data.length - 1] === NL);
    const out = takeBuffer(data.length + lines * (head.length + 1));
    this.file.append(stampLines(data, head, out.buffer), this.onError, out.recycle);
  }

  private flushDropped(): void {
    if (this.dropped === 0) return;
    const n = this.dropped;
    this.dropped = 0;
    this.note(`[slipway: ${n} line${n === 1 ? '' : 's'} dropped]`);
  }

  /** Resolves once every line this writer wrote is in the file; the file closes with its last writer. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.flushDropped();
    this.closed = true;
    return this.file.release();
  }
}

/**
 * Buffers for a chunk's stamped lines, used again once written. A flood would
 * otherwise allocate one per chunk, and V8 collects such outside-the-heap
 * garbage only after tens of MB of it: the daemon's memory would swell by that
 * much whatever the queue's bound. A few are kept, shared by all writers.
 */
const POOLED_SIZE = 1024 * 1024;
const POOL_KEEP = 4;
const pool: Buffer[] = [];

function takeBuffer(size: number): { buffer: Buffer; recycle?: () => void } {
  if (size < POOLED_SIZE / 16 || size > POOLED_SIZE) return { buffer: Buffer.allocUnsafe(size) };
  const buffer = pool.pop() ?? Buffer.allocUnsafeSlow(POOLED_SIZE);
  return { buffer, recycle: () => void (pool.length < POOL_KEEP && pool.push(buffer)) };
}

/** Copies `data` into `out` with `head` before every line, a `\r` before a newline removed, and a newline after the last line. */
function stampLines(data: Buffer, head: Buffer, out: Buffer): Buffer {
  let at = 0;
  let start = 0;
  while (start < data.length) {
    let nl = data.indexOf(NL, start);
    if (nl === -1) nl = data.length;
    const end = nl > start && data[nl - 1] === CR ? nl - 1 : nl;
    at += head.copy(out, at);
    at += data.copy(out, at, start, end);
    out[at++] = NL;
    start = nl + 1;
  }
  return out.subarray(0, at);
}

/** Lines in `data`: its newlines, plus one for a last line without one. */
function countLines(data: Buffer, complete: boolean): number {
  let n = 0;
  for (let i = data.indexOf(NL); i !== -1; i = data.indexOf(NL, i + 1)) n++;
  return complete ? n : n + 1;
}

/** The largest cut at or below `max` that does not fall inside a UTF-8 sequence. */
function charBoundary(data: Buffer, max: number): number {
  let cut = max;
  while (cut > 0 && (data[cut]! & 0xc0) === 0x80) cut--;
  return cut || max;
}
