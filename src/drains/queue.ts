export interface DropOldestQueueOptions<T> {
  /** Items held at most. */
  maxItems: number;
  /** Bytes held at most (as `size` counts them). */
  maxBytes: number;
  size: (item: T) => number;
}

/**
 * A bounded FIFO that makes room by dropping its oldest items: a drain that
 * falls behind loses the old lines, never the daemon's memory, and never
 * slows whoever pushes (the app's log writer).
 */
export class DropOldestQueue<T> {
  private items: T[] = [];
  private head = 0;
  private held = 0;
  /** Items dropped to make room, since the queue was made. */
  dropped = 0;

  constructor(private readonly opts: DropOldestQueueOptions<T>) {}

  get length(): number {
    return this.items.length - this.head;
  }

  get bytes(): number {
    return this.held;
  }

  /** Adds `item`; returns how many old items were dropped for it. An item larger than the whole queue is itself dropped. */
  push(item: T): number {
    const size = this.opts.size(item);
    if (size > this.opts.maxBytes) {
      this.dropped++;
      return 1;
    }
    let n = 0;
    while (this.length && (this.length >= this.opts.maxItems || this.held + size > this.opts.maxBytes)) {
      this.held -= this.opts.size(this.items[this.head]!);
      this.items[this.head++] = undefined as T;
      n++;
    }
    this.items.push(item);
    this.held += size;
    this.dropped += n;
    this.compact();
    return n;
  }

  /** Takes up to `maxItems` from the front, stopping before `maxBytes` (but at least one). */
  take(maxItems: number, maxBytes = Infinity): T[] {
    const out: T[] = [];
    let bytes = 0;
    while (this.length && out.length < maxItems) {
      const item = this.items[this.head]!;
      const size = this.opts.size(item);
      if (out.length && bytes + size > maxBytes) break;
      bytes += size;
      this.held -= size;
      this.items[this.head++] = undefined as T;
      out.push(item);
    }
    this.compact();
    return out;
  }

  /** Empties the queue; returns how many items it held. */
  clear(): number {
    const n = this.length;
    this.items = [];
    this.head = 0;
    this.held = 0;
    return n;
  }

  /** Taken and dropped slots at the front are cut away once they are half the array (amortised O(1)). */
  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
