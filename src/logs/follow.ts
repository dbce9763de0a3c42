import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { closeCursor, openCursor, type LogCursor } from './tail.js';

export interface FollowOptions {
  /** The live log file; it may not exist yet, and may be rotated or truncated under us. */
  file: string;
  /** Where to continue (from `readTail`); default: the end of the file as it is now. Closed when the follow ends. */
  cursor?: LogCursor;
  /** Gets each batch of new whole lines; the follow waits for it (backpressure from a slow client). */
  onLines: (lines: string[]) => void | Promise<void>;
  /** Ends the follow: the client went away. */
  signal: AbortSignal;
  /** Longest wait between two looks at the file. Default 500 ms; a change in its directory wakes us sooner. */
  pollMs?: number;
}

const CHUNK = 64 * 1024;
/** A "line" with no newline after this many bytes is passed on anyway, so memory stays bounded. */
const MAX_PARTIAL = 1024 * 1024;

/**
 * `tail -F` for one log file: prints lines appended to it until `signal`
 * aborts. When the file is renamed away (rotation) the rest of the old file
 * is read to its end before the new one is opened from its start; when it
 * shrinks in place (truncated), reading starts over from the top.
 */
export async function followLog(opts: FollowOptions): Promise<void> {
  const { file, signal } = opts;
  const cursor = opts.cursor ?? (await startAtEnd(file));
  let partial = Buffer.alloc(0);
  const waker = new Waker(path.dirname(file), opts.pollMs ?? 500);

  const emit = async (lines: string[]) => {
    if (lines.length && !signal.aborted) await opts.onLines(lines);
  };

  /**
   * Reads the open file from the cursor to its end, handing on the lines of
   * each chunk as it goes: a file that grows as fast as we read never piles up
   * here, and the next chunk waits for a slow consumer.
   */
  const readOn = async (final: boolean): Promise<void> => {
    if (!cursor.handle) return;
    const buf = Buffer.alloc(CHUNK);
    while (!signal.aborted) {
      const lines: string[] = [];
      const { bytesRead } = await cursor.handle.read(buf, 0, CHUNK, cursor.offset);
      if (bytesRead === 0) break;
      cursor.offset += bytesRead;
      let data = partial.length ? Buffer.concat([partial, buf.subarray(0, bytesRead)]) : Buffer.from(buf.subarray(0, bytesRead));
      for (let cut = data.indexOf(0x0a); cut !== -1; cut = data.indexOf(0x0a)) {
        lines.push(data.subarray(0, cut).toString('utf8'));
        data = data.subarray(cut + 1);
      }
      partial = data;
      if (partial.length > MAX_PARTIAL) {
        lines.push(partial.toString('utf8'));
        partial = Buffer.alloc(0);
      }
      await emit(lines);
    }
    if (final && partial.length) {
      const last = partial.toString('utf8');
      partial = Buffer.alloc(0);
      await emit([last]);
    }
  };

  try {
    while (!signal.aborted) {
      await readOn(false);
      const stat = await fsp.stat(file).catch(() => undefined);
      if (stat && cursor.handle && stat.ino === cursor.ino && stat.size < cursor.offset) {
        cursor.offset = 0; // truncated in place
        partial = Buffer.alloc(0);
        continue;
      }
      if (stat && stat.ino !== cursor.ino) {
        // Rotated (or created): finish the old file, then take the new one from its first byte.
        await readOn(true);
        await closeCursor(cursor);
        Object.assign(cursor, await openCursor(file), { offset: 0 });
        continue;
      }
      await waker.sleep(signal);
    }
  } finally {
    waker.close();
    await closeCursor(cursor);
  }
}

async function startAtEnd(file: string): Promise<LogCursor> {
  const cursor = await openCursor(file);
  if (cursor.handle) cursor.offset = (await cursor.handle.stat()).size;
  return cursor;
}

/**
 * Sleeps until the poll interval passes, something changes in the log's
 * directory (inotify through fs.watch, when available), or the follow ends.
 */
class Waker {
  private watcher?: fs.FSWatcher;
  private wake?: () => void;
  private dirty = false;

  constructor(
    dir: string,
    private readonly pollMs: number,
  ) {
    try {
      this.watcher = fs.watch(dir, { persistent: false }, () => this.poke());
      this.watcher.on('error', () => this.close());
    } catch {
      // No directory yet, or no inotify: polling alone still works.
    }
  }

  sleep(signal: AbortSignal): Promise<void> {
    if (this.dirty || signal.aborted) {
      this.dirty = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.wake = undefined;
        this.dirty = false;
        resolve();
      };
      const timer = setTimeout(done, this.pollMs);
      signal.addEventListener('abort', done, { once: true });
      this.wake = done;
    });
  }

  close(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }

  private poke(): void {
    if (this.wake) this.wake();
    else this.dirty = true;
  }
}
