/** What the dashboard shows of an app's traffic: the last minutes, per app, kept in memory. */
export interface RequestSummary {
  /** Requests per second in each of the last BUCKETS windows of BUCKET_MS, oldest first. */
  rates: number[];
  /** Latency percentiles over the last SAMPLE_SIZE requests, in milliseconds; null before any. */
  p50: number | null;
  p95: number | null;
  /** Share of the requests in the window that answered 5xx, 0 to 1. */
  errorRate: number;
  total: number;
}

const BUCKET_MS = 10_000;
const BUCKETS = 30;
const SAMPLE_SIZE = 500;

interface AppWindow {
  /** Bucket start time → [requests, 5xx]. */
  buckets: Map<number, [number, number]>;
  latencies: number[];
  next: number;
}

/**
 * Rolling per-app request counts and recent latencies. Prometheus keeps the
 * history for whoever scrapes; this is only the last five minutes, so the
 * dashboard can draw a sparkline and a p95 without a time-series store.
 */
export class RequestStats {
  private readonly apps = new Map<string, AppWindow>();

  constructor(private readonly now: () => number = Date.now) {}

  record(app: string, status: number, ms: number): void {
    let w = this.apps.get(app);
    if (!w) this.apps.set(app, (w = { buckets: new Map(), latencies: [], next: 0 }));
    const start = this.bucketOf(this.now());
    const b = w.buckets.get(start) ?? [0, 0];
    b[0]++;
    if (status >= 500) b[1]++;
    w.buckets.set(start, b);
    if (w.buckets.size > BUCKETS + 1) for (const k of w.buckets.keys()) if (k <= start - BUCKETS * BUCKET_MS) w.buckets.delete(k);
    // A ring: the newest SAMPLE_SIZE latencies.
    w.latencies[w.next] = ms;
    w.next = (w.next + 1) % SAMPLE_SIZE;
  }

  summary(app: string): RequestSummary {
    const w = this.apps.get(app);
    const last = this.bucketOf(this.now());
    const rates: number[] = [];
    let total = 0;
    let errors = 0;
    for (let i = BUCKETS - 1; i >= 0; i--) {
      const [n, e] = w?.buckets.get(last - i * BUCKET_MS) ?? [0, 0];
      rates.push(n / (BUCKET_MS / 1000));
      total += n;
      errors += e;
    }
    const sorted = [...(w?.latencies ?? [])].sort((a, b) => a - b);
    const pct = (p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : null);
    return { rates, p50: pct(0.5), p95: pct(0.95), errorRate: total ? errors / total : 0, total };
  }

  forget(app: string): void {
    this.apps.delete(app);
  }

  private bucketOf(t: number): number {
    return t - (t % BUCKET_MS);
  }
}

export const REQUEST_WINDOW = { bucketMs: BUCKET_MS, buckets: BUCKETS };
