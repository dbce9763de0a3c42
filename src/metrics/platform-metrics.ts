import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { RequestStats } from './request-stats.js';
import { RequestCounts } from './request-counts.js';
import { treeUsage, type ProcessUsage } from './process-usage.js';

/** An instance as the scrape sees it: app and process type are its only labels. */
export interface InstanceSample {
  app: string;
  type: string;
  restarts: number;
  /** Its process on this host (process driver); none for containers. */
  pid?: number;
}

/** What is read at scrape time rather than counted: set by the composition root. */
export interface MetricSources {
  instances(): InstanceSample[];
  /** Each app certificate's expiry, ms since the epoch. */
  certificates(): Array<{ app: string; notAfter: number }>;
}

/** The router's side: one call per answered request of a routed app. */
export interface RequestRecorder {
  request(app: string, method: string | undefined, status: number, seconds: number): void;
}

/**
 * Every Prometheus series Slipway exports (`GET /metrics`), in one registry of
 * its own (no process-global state). Labels are app and process type names,
 * plus small fixed sets (method, status class, result) — never hosts, paths,
 * users or instance ids, so the series count grows with apps only.
 */
export class PlatformMetrics implements RequestRecorder {
  readonly registry = new Registry();
  /** The dashboard's last minutes of traffic per app. */
  readonly recent = new RequestStats();
  private readonly requests: RequestCounts;
  private readonly deploys: Counter<'app' | 'result'>;
  private readonly deploySeconds: Histogram<'app' | 'result'>;
  private readonly buildSeconds: Histogram<'app'>;
  private readonly webhooks: Counter<'app' | 'outcome'>;
  /**
   * Log drain messages by outcome (`delivered`, `dropped`): the drains module
   * (issue 15 part 3) counts here through `drainMessage`.
   */
  private readonly drains: Counter<'app' | 'outcome'>;
  private sources?: MetricSources;

  constructor() {
    const registers = [this.registry];
    this.requests = new RequestCounts(this.registry);
    this.deploys = new Counter({
      name: 'slipway_deploys_total',
      help: 'Deploy jobs (pushes, rollbacks, promotions, config releases) that ended, by result',
      labelNames: ['app', 'result'],
      registers,
    });
    this.deploySeconds = new Histogram({
      name: 'slipway_deploy_duration_seconds',
      help: 'Deploy jobs from start to end, by result',
      labelNames: ['app', 'result'],
      buckets: [1, 5, 10, 30, 60, 120, 300, 600, 1800],
      registers,
    });
    this.buildSeconds = new Histogram({
      name: 'slipway_build_duration_seconds',
      help: "Deploys' build stage",
      labelNames: ['app'],
      buckets: [1, 5, 10, 30, 60, 120, 300, 600, 1800],
      registers,
    });
    this.webhooks = new Counter({
      name: 'slipway_webhook_deliveries_total',
      help: 'Webhook delivery attempts: delivered, retried (will be sent again) or dropped (gave up)',
      labelNames: ['app', 'outcome'],
      registers,
    });
    this.drains = new Counter({
      name: 'slipway_drain_messages_total',
      help: 'Log lines sent to log drains: delivered or dropped',
      labelNames: ['app', 'outcome'],
      registers,
    });
    const self = this;
    new Gauge({
      name: 'slipway_instances',
      help: 'Running instances of each process type',
      labelNames: ['app', 'process_type'],
      registers,
      collect() {
        this.reset();
        for (const i of self.sources?.instances() ?? []) this.inc({ app: i.app, process_type: i.type });
      },
    });
    new Gauge({
      name: 'slipway_instance_restarts',
      help: "Restarts of each process type's current instances (a new release starts at 0)",
      labelNames: ['app', 'process_type'],
      registers,
      collect() {
        this.reset();
        for (const i of self.sources?.instances() ?? []) this.inc({ app: i.app, process_type: i.type }, i.restarts);
      },
    });
    // Both gauges are read in one scrape: each instance's /proc tree is walked once for the two.
    let usage: { at: number; byPid: Map<number, ProcessUsage | undefined> } = { at: 0, byPid: new Map() };
    const usageOf = (pid: number): ProcessUsage | undefined => {
      if (Date.now() - usage.at > 1000) usage = { at: Date.now(), byPid: new Map() };
      if (!usage.byPid.has(pid)) usage.byPid.set(pid, treeUsage(pid));
      return usage.byPid.get(pid);
    };
    const usageGauge = (name: string, help: string, value: (u: ProcessUsage) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['app', 'process_type'],
        registers,
        collect() {
          this.reset();
          for (const i of self.sources?.instances() ?? []) {
            const u = i.pid ? usageOf(i.pid) : undefined;
            if (u) this.inc({ app: i.app, process_type: i.type }, value(u));
          }
        },
      });
    usageGauge(
      'slipway_instance_memory_bytes',
      'Resident memory of each process type, its instances summed (process driver)',
      (u) => u.rssBytes,
    );
    usageGauge(
      'slipway_instance_cpu_seconds',
      "CPU time of each process type's current instances, summed (process driver)",
      (u) => u.cpuSeconds,
    );
    new Gauge({
      name: 'slipway_certificate_expiry_timestamp_seconds',
      help: "When each app's certificate expires (the soonest, if it has several)",
      labelNames: ['app'],
      registers,
      collect() {
        this.reset();
        const soonest = new Map<string, number>();
        for (const c of self.sources?.certificates() ?? []) soonest.set(c.app, Math.min(soonest.get(c.app) ?? Infinity, c.notAfter));
        for (const [app, t] of soonest) this.set({ app }, Math.floor(t / 1000));
      },
    });
  }

  /** Wires what is read at scrape time; until then those series are empty. */
  setSources(sources: MetricSources): void {
    this.sources = sources;
  }

  request(app: string, method: string | undefined, status: number, seconds: number): void {
    this.requests.record(app, method, status, seconds);
    this.recent.record(app, status, seconds * 1000);
  }

  deployEnded(app: string, result: 'succeeded' | 'failed', seconds: number | undefined, buildSeconds?: number): void {
    this.deploys.inc({ app, result });
    if (seconds !== undefined) this.deploySeconds.observe({ app, result }, seconds);
    if (buildSeconds !== undefined) this.buildSeconds.observe({ app }, buildSeconds);
  }

  webhookAttempt(app: string, outcome: 'delivered' | 'retried' | 'dropped'): void {
    this.webhooks.inc({ app, outcome });
  }

  /** For log drains: `count` lines of `app` delivered to, or dropped by, a drain. */
  drainMessage(app: string, outcome: 'delivered' | 'dropped', count = 1): void {
    this.drains.inc({ app, outcome }, count);
  }

  /** The Prometheus text exposition and its content type. */
  async exposition(): Promise<{ text: string; contentType: string }> {
    return { text: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}
