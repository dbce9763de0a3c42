import path from 'node:path';
import tls from 'node:tls';
import type { EgressSettings } from '../egress/index.js';
import { describe } from '../errors.js';
import { LogWriter } from '../logs/log-writer.js';
import { SharedLogFile } from '../logs/shared-log-file.js';
import type { SecretBox } from '../secrets/box.js';
import type { Drain, Store } from '../store/index.js';
import type { Layout } from '../store/layout.js';
import { SEALED_PREFIX } from '../store/sealed.js';
import { SYSTEM_BUNDLE, extraBundleText } from '../tls/trust.js';
import { DEFAULT_DRAIN_TUNING, DrainRunner, type DrainEvent, type DrainStats, type DrainTuning } from './drain.js';
import { LogplexSender } from './logplex-sender.js';
import type { DrainSender } from './sender.js';
import { SyslogSender } from './syslog-sender.js';
import { parseLogChunk, type LogRecord } from './syslog.js';
import { parseDrainUrl } from './url.js';
import { routerLine } from './router-line.js';
import type { AccessEntry } from '../router/engine.js';

export interface DrainManagerOptions {
  store: Store;
  layout: Layout;
  /** Opens drain URLs that carry a token. */
  secrets?: SecretBox;
  egress: EgressSettings;
  /** `--extra-ca-bundle`: CAs a TLS receiver may chain to besides the system's. */
  extraCaBundle?: string;
  tuning?: Partial<DrainTuning>;
  log: (message: string) => void;
}

/** At most one line per drain in the app's log per this long about refusals and drops: a broken drain cannot flood it. */
const ANNOUNCE_EVERY_MS = 60_000;

interface Running {
  runner: DrainRunner;
  app: string;
  lastAnnounce: number;
  suppressed: number;
}

/** The seal's scope of a drain's URL: its own token, so a sealed URL opens for that drain only. */
export const sealScope = (token: string) => `drain:${token}`;
export const SEAL_NAME = 'url';

/**
 * Every app's drains in the daemon. Lines reach them from the one place an
 * app's log lines are written (SharedLogFile, tapped per app), and from its
 * deploys' logs (`deployLine`). `reconcile` brings the running drains in line
 * with the store: called at start, after drains:add and drains:remove, and on
 * any change that can remove an app.
 */
export class DrainManager {
  private readonly tuning: DrainTuning;
  private readonly running = new Map<number, Running>();
  private readonly taps = new Map<string, () => void>();
  private readonly listeners = new Set<(e: DrainEvent) => void>();
  /** Made once: building it parses every CA of the bundles. */
  private readonly secureContext: tls.SecureContext;
  private unsubscribe?: () => void;
  private stopped = false;

  constructor(private readonly opts: DrainManagerOptions) {
    this.tuning = { ...DEFAULT_DRAIN_TUNING, ...opts.tuning };
    const bundles = [extraBundleText(SYSTEM_BUNDLE), extraBundleText(opts.extraCaBundle)].filter((t): t is string => Boolean(t));
    this.secureContext = tls.createSecureContext({ ca: [...tls.rootCertificates, ...bundles] });
  }

  start(): void {
    this.reconcile();
    this.unsubscribe = this.opts.store.onAccessChange(() => this.reconcile());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    for (const untap of this.taps.values()) untap();
    this.taps.clear();
    const all = [...this.running.values()];
    this.running.clear();
    await Promise.all(all.map((r) => r.runner.stop()));
  }

  /** Starts drains the store has and this does not, stops those it no longer has. */
  reconcile(): void {
    if (this.stopped) return;
    const wanted = new Map<number, Drain>();
    try {
      for (const d of this.opts.store.drains.all()) wanted.set(d.id, d);
    } catch (err) {
      return this.opts.log(`drains: cannot read the drains: ${describe(err)}`);
    }
    for (const [id, r] of this.running) {
      const d = wanted.get(id);
      if (d && d.appName === r.app) continue;
      this.running.delete(id);
      void r.runner.stop();
    }
    for (const d of wanted.values()) if (!this.running.has(d.id)) this.startDrain(d);
    const apps = new Set([...this.running.values()].map((r) => r.app));
    for (const [app, untap] of this.taps)
      if (!apps.has(app)) {
        untap();
        this.taps.delete(app);
      }
    for (const app of apps)
      if (!this.taps.has(app))
        this.taps.set(
          app,
          SharedLogFile.tap(this.appLog(app), (data) => this.push(app, parseLogChunk(data))),
        );
  }

  /** A deploy's log line (masked already), sent with PROCID `deploy`. */
  deployLine(app: string, text: string): void {
    if (!this.hasDrains(app)) return;
    const time = new Date().toISOString();
    this.push(
      app,
      text
        .split('\n')
        .filter(Boolean)
        .map((msg) => ({ time, procid: 'deploy', own: false, msg })),
    );
  }

  /** A request the router relayed for the app, as a `router` line (Heroku's shape). */
  routerAccess(entry: AccessEntry): void {
    if (!this.hasDrains(entry.app)) return;
    this.push(entry.app, [{ time: new Date().toISOString(), procid: 'router', own: false, msg: routerLine(entry) }]);
  }

  /** Lines of the app that do not go through its log file (router lines, deploy lines). */
  push(app: string, records: LogRecord[]): void {
    if (!records.length) return;
    for (const r of this.running.values()) if (r.app === app) r.runner.push(records);
  }

  hasDrains(app: string): boolean {
    return this.taps.has(app);
  }

  /** What a running drain did since the daemon started; undefined when it is not running. */
  stats(drainId: number): DrainStats | undefined {
    return this.running.get(drainId)?.runner.stats();
  }

  /**
   * For metrics: `fn` gets every delivery and drop as it happens (counts of
   * lines, by app and drain). Returns the unsubscribe function.
   */
  onEvent(fn: (e: DrainEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private appLog(app: string): string {
    return path.join(this.opts.layout.logs(app), 'app.log');
  }

  private startDrain(d: Drain): void {
    let sender: DrainSender;
    try {
      sender = this.senderFor(d);
    } catch (err) {
      return this.opts.log(`drains: drain ${d.id} of ${d.appName} cannot start: ${describe(err)}`);
    }
    const entry: Running = {
      app: d.appName,
      lastAnnounce: 0,
      suppressed: 0,
      runner: new DrainRunner({
        id: d.id,
        app: d.appName,
        sender,
        tuning: this.tuning,
        onEvent: (e) => {
          for (const fn of this.listeners) fn(e);
        },
        announce: (message) => this.announce(entry, message),
      }),
    };
    this.running.set(d.id, entry);
  }

  private senderFor(d: Drain): DrainSender {
    const raw = d.sealedUrl === null ? d.url : this.opts.secrets!.open(sealScope(d.token), SEAL_NAME, SEALED_PREFIX + d.sealedUrl);
    // Its address is checked at each connect (egress), under the server's policy of the day.
    const checked = parseDrainUrl(raw);
    const common = { app: d.appName, url: checked.url, shown: checked.shown, egress: this.opts.egress, secureContext: this.secureContext };
    if (checked.kind === 'syslog' || checked.kind === 'syslog+tls')
      return new SyslogSender({ ...common, tls: checked.kind === 'syslog+tls' });
    return new LogplexSender({ ...common, token: d.token });
  }

  /** One line in the app's log, at most once a minute per drain; lines held back meanwhile are counted in the next. */
  private announce(entry: Running, message: string): void {
    const now = Date.now();
    if (now - entry.lastAnnounce < ANNOUNCE_EVERY_MS) {
      entry.suppressed++;
      return;
    }
    const more = entry.suppressed ? ` (${entry.suppressed} more such message(s) held back in the last minute)` : '';
    entry.lastAnnounce = now;
    entry.suppressed = 0;
    if (!this.running.has(entry.runner.id)) return;
    const writer = new LogWriter({ file: this.appLog(entry.app), name: 'drain', onError: () => undefined });
    writer.note(`${message}${more}`);
    void writer.close();
  }
}
