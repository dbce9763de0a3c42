import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';

interface Pending {
  data: Buffer;
  /** Called once `data` is written (or failed): its memory may be used again. */
  recycle?: () => void;
  onError?: (err: Error) => void;
  /** Resolved once this entry and everything before it was written (or failed). */
  done?: () => void;
}

export interface SharedLogFileOptions {
  /** Rotate once the file has grown past this many bytes. */
  maxBytes: number;
  /** Rotated files kept (`FILE.1` … `FILE.keep`). */
  keep: number;
  /** `whenDrained` callbacks run once the backlog is down to this many bytes. */
  resumeBytes: number;
  /** Bytes per second the file takes in the long run; more waits in the backlog (see `backlog`). */
  rateBytes: number;
  /** Bytes it takes at once after a quiet spell. */
  burstBytes: number;
}

/**
 * One log file and everyone writing it. All writers live in the daemon, so an
 * in-process registry by path is enough to make them share: appends queue up
 * and are written in order by a single loop, which also rotates the file when
 * it is full. Renaming happens only after everything queued before it is
 * written and before anything after it is, so `FILE.1` ends on a whole line and
 * a reader that follows the rename (`slipway logs -f`) misses nothing.
 *
 * The queue itself is not bounded here: writers look at `pendingBytes` and
 * hold back (see LogWriter).
 */
export class SharedLogFile {
  private static readonly open = new Map<string, SharedLogFile>();
  /** Who else gets each file's lines as they are appended (log drains), by path. */
  private static readonly taps = new Map<string, Set<(data: Buffer) => void>>();

  private refs = 0;
  private queue: Pending[] = [];
  private draining?: Promise<void>;
  private handle?: fsp.FileHandle;
  private size = 0;
  /** Bytes queued and not yet written. */
  private pending = 0;
  /** Bytes the rate still allows now; below zero, how far appends ran ahead of it. */
  private credit: number;
  private creditAt = performance.now();
  private drainWaiters: Array<() => void> = [];
  private wakeTimer?: NodeJS.Timeout;

  private constructor(
    private readonly file: string,
    private readonly opts: SharedLogFileOptions,
  ) {
    this.credit = opts.burstBytes;
  }

  static acquire(file: string, opts: SharedLogFileOptions): SharedLogFile {
    let shared = SharedLogFile.open.get(file);
    // Every time: a destroyed and recreated app gets its logs/ folder back.
    fs.mkdirSync(path.dirname(file), { recursive: true });
    if (!shared) SharedLogFile.open.set(file, (shared = new SharedLogFile(file, opts)));
    shared.refs++;
    return shared;
  }

  /**
   * Calls `fn` with every chunk of whole, stamped lines appended to `file`
   * from now on, before it is written. `fn` runs in the writer's turn and must
   * neither wait nor keep the buffer (it is used again once written). Returns
   * the function that removes the tap.
   */
  static tap(file: string, fn: (data: Buffer) => void): () => void {
    const key = path.resolve(file);
    let set = SharedLogFile.taps.get(key);
    if (!set) SharedLogFile.taps.set(key, (set = new Set()));
    set.add(fn);
    return () => {
      set.delete(fn);
      if (!set.size && SharedLogFile.taps.get(key) === set) SharedLogFile.taps.delete(key);
    };
  }

  append(data: Buffer, onError: (err: Error) => void, recycle?: () => void): void {
    const taps = SharedLogFile.taps.get(this.file);
    if (taps)
      for (const fn of taps) {
        try {
          fn(data);
        } catch {
          /* a tap's failure is its own: the line is still written */
        }
      }
    this.refill();
    this.credit -= data.length;
    this.pending += data.length;
    this.queue.push({ data, onError, recycle });
    this.kick();
  }

  /**
   * How far behind the file is: bytes queued and not yet written, plus how
   * far the appends ran ahead of the rate. Writers hold back while it is high
   * (LogWriter), so an app cannot make the daemon write (and read, and
   * stamp) its output faster than the rate in the long run.
   */
  get backlog(): number {
    this.refill();
    return this.pending + Math.max(0, -this.credit);
  }

  /** Calls `fn` once the backlog is down to `resumeBytes` (on the next turn when it already is). */
  whenDrained(fn: () => void): void {
    if (this.backlog <= this.opts.resumeBytes) return void setImmediate(fn);
    this.drainWaiters.push(fn);
    this.scheduleWake();
  }

  private refill(): void {
    const now = performance.now();
    this.credit = Math.min(this.opts.burstBytes, this.credit + ((now - this.creditAt) * this.opts.rateBytes) / 1000);
    this.creditAt = now;
  }

  /** A backlog made of overdraft shrinks with time, not with writes: a timer wakes the waiters then. */
  private scheduleWake(): void {
    if (this.wakeTimer || this.credit >= 0) return;
    const overdraft = -this.credit - this.opts.resumeBytes;
    const ms = Math.max(5, Math.ceil((overdraft * 1000) / this.opts.rateBytes));
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = undefined;
      this.wakeDrainWaiters();
    }, ms);
  }

  /**
   * One writer is done: resolves when its lines are written — not when the
   * queue is empty, which a chatty neighbour could put off for ever. The last
   * writer's release also closes the file.
   */
  release(): Promise<void> {
    this.refs--;
    return new Promise((done) => {
      this.queue.push({ data: EMPTY, done });
      this.kick();
    });
  }

  private wakeDrainWaiters(): void {
    if (!this.drainWaiters.length) return;
    if (this.backlog > this.opts.resumeBytes) return this.scheduleWake();
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const fn of waiters) fn();
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
        if (this.queue.some((p) => p.data.length) && !this.handle) {
          this.handle = await fsp.open(this.file, 'a');
          this.size = (await this.handle.stat()).size;
        }
        batch = this.takeBatch();
        const bytes = await this.write(batch.map((p) => p.data).filter((d) => d.length));
        if (bytes) {
          this.size += bytes;
          if (this.size >= this.opts.maxBytes) await this.rotate();
        }
      } catch (err) {
        if (batch === this.queue) {
          this.queue = [];
          this.pending -= batch.reduce((n, p) => n + p.data.length, 0);
        }
        // Drop the handle so the next write tries afresh (a deleted directory, a full disk that recovered).
        await this.closeHandle();
        for (const onError of new Set(batch.map((p) => p.onError))) onError?.(err as Error);
      }
      for (const p of batch) {
        p.recycle?.();
        p.done?.();
      }
      this.wakeDrainWaiters();
    }
    if (this.refs === 0) {
      await this.closeHandle();
      // A writer that arrived during the close keeps using this object (it reopens).
      if (this.refs === 0 && !this.queue.length && SharedLogFile.open.get(this.file) === this) SharedLogFile.open.delete(this.file);
    }
  }

  /** One writev for the whole batch (no copy into one buffer), repeated for whatever a short write left. */
  private async write(buffers: Buffer[]): Promise<number> {
    let total = 0;
    while (buffers.length) {
      const { bytesWritten } = await this.handle!.writev(buffers);
      total += bytesWritten;
      let skip = bytesWritten;
      while (buffers.length && skip >= buffers[0]!.length) skip -= buffers.shift()!.length;
      if (skip) buffers[0] = buffers[0]!.subarray(skip);
    }
    return total;
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
      if (n > 0 && bytes + p.data.length > room) break;
      bytes += p.data.length;
      n++;
    }
    this.pending -= bytes;
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

const EMPTY = Buffer.alloc(0);
