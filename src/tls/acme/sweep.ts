import { X509Certificate } from 'node:crypto';
import { covers } from '../../router/cert-names.js';
import type { Cert } from '../../store/index.js';
import type { AcmeService } from './service.js';
import { DAY_MS, dueNow, nextWake, type Candidate } from './schedule.js';

/** Longest a timer is set for: a day (the daily sweep), well under setTimeout's 24.8-day limit. */
const MAX_SLEEP_MS = DAY_MS;
const MIN_SLEEP_MS = 1000;

/**
 * Renews ACME certificates in the daemon: wakes daily and at the earliest
 * time any certificate is due (so a 120 s test certificate renews in time),
 * then attempts every due one, most urgent first, one at a time. Each
 * attempt's failure is the service's to record; the sweep only goes on.
 */
export class RenewalSweep {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private again = false;
  private stopped = false;

  constructor(
    private readonly acme: AcmeService,
    private readonly opts: { now?: () => number; log?: (msg: string) => void } = {},
  ) {
    acme.onChange = () => this.arm();
  }

  start(): void {
    this.stopped = false;
    this.arm();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /** Sets the timer for the next due certificate (or a day from now); called after every attempt and change. */
  arm(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    const wake = nextWake(this.candidates());
    // At least a second: whatever goes wrong, the sweep never spins.
    const delay = Math.min(MAX_SLEEP_MS, Math.max(MIN_SLEEP_MS, (wake ?? Infinity) - this.now()));
    this.timer = setTimeout(() => void this.run(), delay);
    this.timer.unref();
  }

  /** One pass: every due certificate in order. A pass asked for while one runs follows it. */
  run(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.pass();
      } while (this.again && !this.stopped);
    })().finally(() => {
      this.running = undefined;
      this.arm();
    });
    return this.running;
  }

  private async pass(): Promise<void> {
    for (const c of dueNow(this.candidates(), this.now())) {
      if (this.stopped) return;
      const app = this.acme.deps.store.apps.byId(c.appId);
      // Taken off ACME (or gone) since the list was made.
      if (!app || !this.acme.isAuto(app) || this.acme.busy(app.id)) continue;
      await this.acme.obtain(app, { user: 'slipway', trigger: 'renewal' }).catch(() => undefined);
    }
  }

  private candidates(): Candidate[] {
    const { store } = this.acme.deps;
    return (
      store.certs
        .list()
        .filter((c) => c.source === 'acme')
        .map((c) => ({ cert: c, domains: store.domains.forApp(c.appId).map((d) => d.hostname) }))
        // Without a custom domain there is nothing to order for; the certificate it has stays until it expires.
        .filter(({ domains }) => domains.length > 0)
        .map(({ cert, domains }) => ({ ...cert, matchesDomains: matches(cert, domains) }))
    );
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }
}

/** The certificate covers exactly what the app needs: every custom domain, and nothing it no longer has. */
function matches(c: Cert, domains: string[]): boolean {
  if (!c.chain) return false;
  const leaf = new X509Certificate(c.chain);
  return domains.every((d) => covers(leaf, d)) && c.domains.every((n) => domains.includes(n));
}
