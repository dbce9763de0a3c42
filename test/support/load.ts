import autocannon from 'autocannon';

export interface LoadResult {
  /** Every request answered during the run. */
  requests: number;
  /** Requests answered once `work` had started. */
  during: number;
  /** What a user's monitoring would count as failed: errors, timeouts and non-2xx answers. */
  failures: number;
}

/**
 * Load on the router for `host` while `work` runs. `work` must not block the
 * event loop (no spawnSync): the load generator lives in this process and
 * would pause exactly during the switch it is meant to observe.
 */
export async function underLoad(routerPort: number, host: string, work: () => Promise<void>): Promise<LoadResult> {
  let result: autocannon.Result | undefined;
  const instance = autocannon(
    { url: `http://127.0.0.1:${routerPort}/`, headers: { host }, connections: 8, duration: 600 },
    (_err, r) => (result = r),
  );
  const finished = new Promise<void>((resolve) => instance.on('done', () => resolve()));
  let answered = 0;
  instance.on('response', () => answered++);
  // Let the load settle before the work starts, so it overlaps the whole switch.
  await new Promise((r) => setTimeout(r, 500));
  const before = answered;
  try {
    await work();
  } finally {
    instance.stop();
    await finished;
  }
  const r = result!;
  return { requests: r.requests.total, during: r.requests.total - before, failures: r.errors + r.timeouts + r.non2xx };
}
