import fsp from 'node:fs/promises';

/** Where a reader of a log file stands: the open file, its inode, and the byte after the last whole line read. */
export interface LogCursor {
  handle?: fsp.FileHandle;
  ino?: number;
  offset: number;
}

export interface TailOptions {
  /** The live log, e.g. `apps/APP/logs/app.log`; its rotated files are `FILE.1` (newest) … `FILE.<keep>`. */
  file: string;
  /** Lines wanted (after filtering). */
  lines: number;
  /** Only lines passing this count; default all. */
  keep?: (line: string) => boolean;
  /** Rotated files to look into when the live one is short. Default 3. */
  rotated?: number;
}

const CHUNK = 64 * 1024;
const NEWLINE = 0x0a;

/**
 * The last `lines` lines of a log, reading from the end (so a 10 MiB file
 * costs only the chunks holding those lines) and on into the rotated files
 * when the live one holds fewer. Also returns a cursor on the live file just
 * past its last whole line: `followLog` continues from there, so nothing is
 * printed twice or skipped between the tail and the follow. The caller owns
 * `cursor.handle` and must close it (`closeCursor`).
 */
export async function readTail(opts: TailOptions): Promise<{ lines: string[]; cursor: LogCursor }> {
  const keep = opts.keep ?? (() => true);
  const found: string[] = [];
  const want = Math.max(0, opts.lines);
  const cursor = await openCursor(opts.file);
  try {
    if (cursor.handle) {
      const size = (await cursor.handle.stat()).size;
      let trailing = true;
      cursor.offset = size;
      for await (const segment of segmentsBackward(cursor.handle, size)) {
        if (trailing) {
          // Bytes after the last newline are a line still being written: the follower's, not ours.
          trailing = false;
          cursor.offset = size - segment.length;
          continue;
        }
        if (found.length >= want) break;
        const line = segment.toString('utf8');
        if (keep(line)) found.push(line);
      }
    }
    for (let i = 1; i <= (opts.rotated ?? 3) && found.length < want; i++) {
      const file = `${opts.file}.${i}`;
      const stat = await fsp.stat(file).catch(() => undefined);
      // Rotated since we opened the live file: that is the one we just read.
      if (!stat || stat.ino === cursor.ino) continue;
      const handle = await fsp.open(file, 'r').catch(() => undefined);
      if (!handle) continue;
      try {
        let trailing = true;
        for await (const segment of segmentsBackward(handle, (await handle.stat()).size)) {
          // A rotated file is complete; its final newline only leaves an empty segment.
          const last = trailing;
          trailing = false;
          if (last && segment.length === 0) continue;
          if (found.length >= want) break;
          const line = segment.toString('utf8');
          if (keep(line)) found.push(line);
        }
      } finally {
        await handle.close();
      }
    }
  } catch (err) {
    await closeCursor(cursor);
    throw err;
  }
  return { lines: found.reverse(), cursor };
}

/** Opens the live file if it exists; a missing file is an empty log that may appear later. */
export async function openCursor(file: string): Promise<LogCursor> {
  const handle = await fsp.open(file, 'r').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (!handle) return { offset: 0 };
  return { handle, ino: (await handle.stat()).ino, offset: 0 };
}

export async function closeCursor(cursor: LogCursor): Promise<void> {
  const handle = cursor.handle;
  cursor.handle = undefined;
  await handle?.close().catch(() => undefined);
}

/**
 * The newline-separated segments of `[0, end)`, last first: first whatever
 * follows the final newline (empty when the file ends with one), then each line
 * back to the first. Newlines are never part of a UTF-8 multi-byte sequence,
 * so splitting bytes is safe.
 */
export async function* segmentsBackward(handle: fsp.FileHandle, end: number): AsyncGenerator<Buffer> {
  let pos = end;
  let carry = Buffer.alloc(0);
  while (pos > 0) {
    const len = Math.min(CHUNK, pos);
    pos -= len;
    const chunk = Buffer.alloc(len);
    const { bytesRead } = await handle.read(chunk, 0, len, pos);
    let data = Buffer.concat([chunk.subarray(0, bytesRead), carry]);
    for (let cut = data.lastIndexOf(NEWLINE); cut !== -1; cut = data.lastIndexOf(NEWLINE)) {
      yield data.subarray(cut + 1);
      data = data.subarray(0, cut);
    }
    carry = data;
  }
  yield carry;
}
