/**
 * Counts requests in flight per backend so activation can wait for an old
 * instance to finish what it is serving before stopping it (no dropped
 * requests on deploy).
 */
export class InFlight {
  private readonly counts = new Map<string, number>();
  private readonly waiters = new Set<() => void>();

  /** Marks one request to `backendId` as started; `end` it exactly once. */
  begin(backendId: string): void {
    this.counts.set(backendId, (this.counts.get(backendId) ?? 0) + 1);
  }

  end(backendId: string): void {
    const left = (this.counts.get(backendId) ?? 1) - 1;
    if (left > 0) this.counts.set(backendId, left);
    else this.counts.delete(backendId);
    if (this.waiters.size) for (const wake of [...this.waiters]) wake();
  }

  count(backendId: string): number {
    return this.counts.get(backendId) ?? 0;
  }

  /**
   * Resolves true once none of `backendIds` has a request in flight, or false
   * when `timeoutMs` passes first. Callers remove the backends from the route
   * before draining, otherwise new requests keep arriving.
   */
  drain(backendIds: string[], timeoutMs: number): Promise<boolean> {
    const idle = () => backendIds.every((id) => this.count(id) === 0);
    if (idle()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const finish = (drained: boolean) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(drained);
      };
      const check = () => {
        if (idle()) finish(true);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      this.waiters.add(check);
    });
  }

  /** Wakes every pending drain (router closing: nothing is in flight any more). */
  clear(): void {
    this.counts.clear();
    for (const wake of [...this.waiters]) wake();
  }
}
