import { randomUUID } from 'node:crypto';
import { retryDelay } from '../notify/retry.js';
import { DropOldestQueue } from './queue.js';
import type { Batch, DrainSender } from './sender.js';
import type { LogRecord } from './syslog.js';

/** How drains batch, bound and retry. One set per server; tests shorten the waits. */
export interface DrainTuning {
  /** Lines a drain's queue holds; past that the oldest are dropped. */
  queueLines: number;
  /** Bytes of message text a drain's queue holds. */
  queueBytes: number;
  /** Lines per batch (per POST, per socket write) at most. */
  batchLines: number;
  /** Bytes of message text per batch at most. */
  batchBytes: number;
  /** How long a batch waits to fill before it is sent anyway. */
  batchWaitMs: number;
  /** Wait before the first retry of a failed batch; doubles each time up to `retryMaxMs`. */
  retryBaseMs: number;
  retryMaxMs: number;
}

/** A full queue's drops are told in one line per this long at most (the manager's own limit is longer). */
const OVERFLOW_NOTE_DELAY_MS = 1000;

export const DEFAULT_DRAIN_TUNING: DrainTuning = {
  queueLines: 10_000,
  queueBytes: 4 * 1024 * 1024,
  batchLines: 500,
  batchBytes: 512 * 1024,
  batchWaitMs: 250,
  retryBaseMs: 1000,
  retryMaxMs: 60_000,
};

/** What a drain did, for the listing and metrics: `delivered` and `dropped` count lines. */
export interface DrainStats {
  delivered: number;
  /** Lines lost: refused by the receiver, pushed out of a full queue, or queued when the drain was removed. */
  dropped: number;
  /** Of `dropped`, lines the receiver refused (4xx). */
  refused: number;
  queued: number;
  lastError?: string;
  lastErrorAt?: number;
}

/** One delivery or drop, as it happens: what metrics count. */
export interface DrainEvent {
  drainId: number;
  app: string;
  kind: 'delivered' | 'dropped';
  /** Why lines were dropped: the receiver refused them, the queue was full, or the drain stopped with lines queued. */
  reason?: 'refused' | 'overflow' | 'stopped';
  lines: number;
}

export interface DrainRunnerOptions {
  id: number;
  app: string;
  sender: DrainSender;
  tuning: DrainTuning;
  onEvent: (e: DrainEvent) => void;
  /** A line for the app's own log about this drain (refusals, drops); the caller rate-limits. */
  announce: (message: string) => void;
}

/**
 * One drain: a bounded queue filled by the app's log writer, and a loop that
 * sends it in batches. Pushing never waits and never fails, whatever the
 * receiver does; a batch that fails is retried with capped back-off while
 * new lines queue up (dropping the oldest when full).
 */
export class DrainRunner {
  private readonly queue: DropOldestQueue<LogRecord>;
  private readonly stats_ = { delivered: 0, dropped: 0, refused: 0 } as Omit<DrainStats, 'queued'>;
  private readonly abort = new AbortController();
  private wake?: () => void;
  private loop: Promise<void>;
  /** Lines pushed out of the full queue since the last announcement. */
  private overflowed = 0;
  private overflowTimer?: NodeJS.Timeout;

  constructor(private readonly opts: DrainRunnerOptions) {
    this.queue = new DropOldestQueue<LogRecord>({
      maxItems: opts.tuning.queueLines,
      maxBytes: opts.tuning.queueBytes,
      size: (r) => r.msg.length + 64,
    });
    this.loop = this.run().catch(() => undefined);
  }

  get id(): number {
    return this.opts.id;
  }

  push(records: LogRecord[]): void {
    if (this.abort.signal.aborted) return;
    let dropped = 0;
    for (const r of records) dropped += this.queue.push(r);
    if (dropped) this.drop(dropped, 'overflow');
    // Said a moment later, in a turn of its own: the line goes through the app's log, which is what called push.
    if (dropped && !this.overflowTimer) this.overflowTimer = setTimeout(() => this.announceOverflow(), OVERFLOW_NOTE_DELAY_MS);
    this.wake?.();
  }

  private announceOverflow(): void {
    this.overflowTimer = undefined;
    if (!this.overflowed || this.abort.signal.aborted) return;
    this.opts.announce(`drain ${this.opts.id} dropped ${this.overflowed} line(s): its queue was full (the receiver is slow or down)`);
    this.overflowed = 0;
  }

  stats(): DrainStats {
    return { ...this.stats_, queued: this.queue.length };
  }

  /** Stops sending; lines still queued are dropped (counted). Resolves once the loop ended. */
  async stop(): Promise<void> {
    if (this.abort.signal.aborted) return this.loop;
    this.abort.abort();
    clearTimeout(this.overflowTimer);
    this.wake?.();
    this.opts.sender.close();
    await this.loop;
    const left = this.queue.clear();
    if (left) this.drop(left, 'stopped');
  }

  private drop(lines: number, reason: NonNullable<DrainEvent['reason']>): void {
    this.stats_.dropped += lines;
    if (reason === 'refused') this.stats_.refused += lines;
    if (reason === 'overflow') this.overflowed += lines;
    this.emit({ kind: 'dropped', reason, lines });
  }

  private emit(e: Omit<DrainEvent, 'drainId' | 'app'>): void {
    try {
      this.opts.onEvent({ drainId: this.opts.id, app: this.opts.app, ...e });
    } catch {
      /* a listener's failure is its own */
    }
  }

  private async run(): Promise<void> {
    const { tuning } = this.opts;
    const signal = this.abort.signal;
    while (!signal.aborted) {
      if (!this.queue.length) await this.sleep(Infinity);
      // A short wait lets a burst fill the batch: one POST (one write) for many lines.
      if (this.queue.length && this.queue.length < tuning.batchLines) await this.sleep(tuning.batchWaitMs, true);
      if (signal.aborted) break;
      const records = this.queue.take(tuning.batchLines, tuning.batchBytes);
      if (records.length) await this.deliver({ id: randomUUID(), records });
    }
  }

  /** Sends one batch until it is delivered, refused, or the drain stops. */
  private async deliver(batch: Batch): Promise<void> {
    const { tuning } = this.opts;
    const signal = this.abort.signal;
    for (let attempt = 1; !signal.aborted; attempt++) {
      const res = await this.opts.sender.send(batch, signal);
      if (res.ok) {
        this.stats_.delivered += batch.records.length;
        this.emit({ kind: 'delivered', lines: batch.records.length });
        return;
      }
      this.stats_.lastError = res.error;
      this.stats_.lastErrorAt = Date.now();
      if (!res.retry) {
        this.drop(batch.records.length, 'refused');
        this.opts.announce(`drain ${this.opts.id} refused ${batch.records.length} line(s): ${res.error}; they were dropped`);
        return;
      }
      // The webhooks' schedule without its last attempt: a drain keeps trying, at most every `retryMaxMs`.
      await this.sleep(Math.min(tuning.retryMaxMs, retryDelay({ attempts: Infinity, baseDelayMs: tuning.retryBaseMs }, attempt)!), true);
    }
    if (signal.aborted) this.drop(batch.records.length, 'stopped');
  }

  /** Waits `ms`, or until stopped; with `onlyStop` false, a push wakes it too. */
  private sleep(ms: number, onlyStop = false): Promise<void> {
    return new Promise((resolve) => {
      const timer = ms === Infinity ? undefined : setTimeout(done, ms);
      const signal = this.abort.signal;
      function done() {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      if (signal.aborted) return done();
      signal.addEventListener('abort', done, { once: true });
      if (!onlyStop) this.wake = () => ((this.wake = undefined), done());
    });
  }
}
