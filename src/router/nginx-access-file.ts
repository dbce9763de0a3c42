import fs from 'node:fs';

/**
 * Follows nginx's access file: every `intervalMs` it reads what was appended
 * since the last read, in one go, and hands over the complete lines. nginx
 * writes whole buffers of lines with O_APPEND, so a read may end inside a line
 * only at a buffer's end; the rest waits for the next read.
 *
 * The file is renamed away to rotate it (see NginxRouter): the follower notices
 * that the path names another file, reads the old one to its end from the
 * descriptor it holds, and keeps reading it (old workers may still finish
 * requests) until `retire` says nobody writes it any more.
 */
export class AccessFileFollower {
  private current?: Followed;
  /** Renamed-away files still read until retired. */
  private readonly old: Followed[] = [];
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly file: string,
    private readonly onLine: (line: string) => void,
    private readonly log: (msg: string) => void,
    /** Called after a read that left the file being written at `rotateAtBytes` or more. */
    private readonly rotate?: { atBytes: number; run: () => void },
  ) {}

  start(intervalMs = 250): void {
    this.timer ??= setInterval(() => this.poll(), intervalMs);
    // Reading the log must never keep the daemon alive.
    this.timer.unref();
  }

  /** Bytes of the file being written now that were read (the rotation threshold looks at it). */
  get size(): number {
    return this.current?.offset ?? 0;
  }

  /** Reads whatever is there now, from every followed file. Never throws. */
  poll(): void {
    try {
      for (const f of this.old) this.drain(f);
      let st: fs.Stats | undefined;
      try {
        st = fs.statSync(this.file);
      } catch {
        st = undefined; // renamed away and not created again yet
      }
      if (this.current && (!st || st.ino !== this.current.ino || st.dev !== this.current.dev)) {
        this.drain(this.current);
        this.old.push(this.current);
        this.current = undefined;
      }
      // A rotation that failed renames the file back: it is the one being written again.
      const back = st ? this.old.findIndex((f) => f.ino === st.ino && f.dev === st.dev) : -1;
      if (!this.current && back >= 0) this.current = this.old.splice(back, 1)[0];
      if (!this.current && st) {
        const fd = fs.openSync(this.file, 'r');
        const opened = fs.fstatSync(fd);
        this.current = { fd, ino: opened.ino, dev: opened.dev, offset: 0, partial: '' };
      }
      if (this.current) this.drain(this.current);
      if (this.rotate && this.current && this.current.offset >= this.rotate.atBytes) this.rotate.run();
    } catch (err) {
      this.log(`router: nginx access log: ${(err as Error).message}`);
    }
  }

  /**
   * The renamed-away files nobody writes any more: read to their end, closed
   * and deleted. `path` is where each was renamed to.
   */
  retire(renamedTo: string): void {
    for (const f of this.old.splice(0)) {
      this.drain(f);
      if (f.partial) this.onLine(f.partial);
      fs.closeSync(f.fd);
    }
    fs.rmSync(renamedTo, { force: true });
  }

  /** A last read of everything, then no more. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.poll();
    for (const f of [...this.old.splice(0), ...(this.current ? [this.current] : [])]) {
      if (f.partial) this.onLine(f.partial);
      fs.closeSync(f.fd);
    }
    this.current = undefined;
  }

  private drain(f: Followed): void {
    const size = fs.fstatSync(f.fd).size;
    // Truncated under us (by hand): start again from its beginning.
    if (size < f.offset) f.offset = 0;
    while (f.offset < size) {
      const want = Math.min(size - f.offset, READ_CHUNK);
      const buf = Buffer.allocUnsafe(want);
      const n = fs.readSync(f.fd, buf, 0, want, f.offset);
      if (n <= 0) break;
      f.offset += n;
      const text = f.partial + buf.toString('utf8', 0, n);
      const lines = text.split('\n');
      f.partial = lines.pop()!;
      // A line longer than anything nginx writes for us is garbage: never buffered without bound.
      if (f.partial.length > MAX_PARTIAL) f.partial = '';
      for (const line of lines) if (line) this.onLine(line);
    }
  }
}

interface Followed {
  fd: number;
  ino: number;
  dev: number;
  offset: number;
  partial: string;
}

const READ_CHUNK = 1024 * 1024;
const MAX_PARTIAL = 64 * 1024;
