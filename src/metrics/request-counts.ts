import { Counter, type Registry } from 'prom-client';

/**
 * The router's two request series, counted into plain per-app arrays and
 * turned into Prometheus series only when scraped. The router reports every
 * request; prom-client's `inc`/`observe` hash their label objects on each
 * call, which the router paid per request (thousands a second) for a scrape
 * that comes every few seconds.
 */

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'OTHER'] as const;
const METHOD_INDEX = new Map<string, number>(METHODS.map((m, i) => [m, i]));
const OTHER = METHODS.length - 1;
/** 1xx to 5xx, then `other` (a status outside 100–599). */
const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'other'] as const;
const classIndex = (s: number) => (s >= 100 && s < 600 ? Math.floor(s / 100) - 1 : CLASSES.length - 1);

export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface AppCounts {
  /** By method × status class. */
  requests: Float64Array;
  /** Per bucket (not cumulative; summed at scrape), the last one +Inf. */
  buckets: Float64Array;
  sum: number;
  count: number;
}

export class RequestCounts {
  private readonly apps = new Map<string, AppCounts>();

  constructor(registry: Registry) {
    const apps = this.apps;
    new Counter({
      name: 'slipway_router_requests_total',
      help: 'Requests the router answered for each app, by method and status class',
      labelNames: ['app', 'method', 'status_class'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [app, c] of apps)
          c.requests.forEach((n, i) => {
            if (n) this.inc({ app, method: METHODS[Math.floor(i / CLASSES.length)]!, status_class: CLASSES[i % CLASSES.length]! }, n);
          });
      },
    });
    registry.registerMetric(durationHistogram(apps) as never);
  }

  record(app: string, method: string | undefined, status: number, seconds: number): void {
    let c = this.apps.get(app);
    if (!c) {
      c = {
        requests: new Float64Array(METHODS.length * CLASSES.length),
        buckets: new Float64Array(DURATION_BUCKETS.length + 1),
        sum: 0,
        count: 0,
      };
      this.apps.set(app, c);
    }
    const m = method === undefined ? OTHER : (METHOD_INDEX.get(method) ?? OTHER);
    c.requests[m * CLASSES.length + classIndex(status)]!++;
    let b = 0;
    while (b < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[b]!) b++;
    c.buckets[b]!++;
    c.sum += seconds;
    c.count++;
  }
}

const DURATION = {
  name: 'slipway_router_request_duration_seconds',
  help: 'Time from the request reaching the router to its answer ending',
};

/** What prom-client's registry asks of a metric (`get`), for the histogram of the plain counts. */
function durationHistogram(apps: Map<string, AppCounts>) {
  return {
    ...DURATION,
    type: 'histogram',
    aggregator: 'sum',
    get: async () => {
      const values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> = [];
      for (const [app, c] of apps) {
        let cumulative = 0;
        c.buckets.forEach((n, i) => {
          cumulative += n;
          const le = i < DURATION_BUCKETS.length ? DURATION_BUCKETS[i]! : '+Inf';
          values.push({ metricName: `${DURATION.name}_bucket`, labels: { le, app }, value: cumulative });
        });
        values.push({ metricName: `${DURATION.name}_sum`, labels: { app }, value: c.sum });
        values.push({ metricName: `${DURATION.name}_count`, labels: { app }, value: c.count });
      }
      return { ...DURATION, type: 'histogram', aggregator: 'sum', values };
    },
  };
}
