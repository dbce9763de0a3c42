import { settingsOf, writeSetting } from '../../apps/settings.js';
import { SlipwayError } from '../../errors.js';
import type { CertNotifier } from '../../notify/events.js';
import type { App, Cert } from '../../store/index.js';
import type { Layout } from '../../store/layout.js';
import { defaultHost, storeCertificate, type CertDeps } from '../certificates.js';
import { checkCertificate, type CheckedCertificate } from '../check.js';
import { splitBundle } from '../pem.js';
import { extraBundleText, trustedCas } from '../trust.js';
import { accountFor, type AcmeSettings } from './accounts.js';
import { ChallengeBoard } from './challenges.js';
import { issue } from './issue.js';
import { afterFailure } from './problem.js';
import { AttemptLog } from './attempt-log.js';

export interface AcmeServiceDeps extends CertDeps {
  acme: AcmeSettings;
  layout: Layout;
  notifier?: CertNotifier;
  /** Default: Date.now. */
  now?: () => number;
}

export interface ObtainOptions {
  /** Who asked (a user name), or `slipway` for the renewal sweep. */
  user: string;
  /** What started it, for the job's params and the audit log. */
  trigger: 'certs:auto' | 'apps:set' | 'domains' | 'renewal';
  /** Each stage line as it happens (certs:auto prints them). */
  progress?: (line: string) => void;
}

/**
 * Certificates for apps from the ACME CA: the one way an app's ACME
 * certificate is obtained or renewed, by certs:auto, `apps:set tls=auto`, a
 * domain change and the renewal sweep alike. An attempt that fails leaves
 * what is served as it was, and is recorded where users look: the cert row
 * (certs:report), a `cert` job's log, the audit log and a `cert.failed`
 * webhook.
 */
export class AcmeService {
  /** The HTTP-01 answers of every order in flight, handed to the router as one set. */
  readonly challenges: ChallengeBoard;
  private readonly inFlight = new Map<number, Promise<CheckedCertificate>>();
  /** Told after every attempt and every change of what is due (the sweep re-arms its timer). */
  onChange?: () => void;

  constructor(readonly deps: AcmeServiceDeps) {
    this.challenges = new ChallengeBoard(async (c) => {
      if (!deps.router?.setChallenges) throw new SlipwayError('router_failed', 'the router cannot answer ACME challenges');
      await deps.router.setChallenges(c);
    });
  }

  private get now(): number {
    return (this.deps.now ?? Date.now)();
  }

  /** The names a certificate for the app must cover: its custom domains. */
  domainsOf(app: App): string[] {
    return this.deps.store.domains.forApp(app.id).map((d) => d.hostname);
  }

  /** True when the app's certificate comes from ACME (certs:auto, tls=auto). */
  isAuto(app: App): boolean {
    return this.deps.store.certs.forApp(app.id)?.source === 'acme';
  }

  /** True while an attempt for the app runs. */
  busy(appId: number): boolean {
    return this.inFlight.has(appId);
  }

  /** One attempt for the app; a second one for the same app while it runs is refused. */
  obtain(app: App, opts: ObtainOptions): Promise<CheckedCertificate> {
    if (this.inFlight.has(app.id))
      return Promise.reject(
        new SlipwayError('invalid', `a certificate order for ${app.name} is already running`, {
          status: 409,
          hint: `wait for it: slipway certs:report ${app.name}`,
        }),
      );
    const run = this.attempt(app, opts).finally(() => {
      this.inFlight.delete(app.id);
      this.onChange?.();
    });
    this.inFlight.set(app.id, run);
    return run;
  }

  private async attempt(app: App, opts: ObtainOptions): Promise<CheckedCertificate> {
    const domains = this.domainsOf(app);
    if (!domains.length)
      throw new SlipwayError('no_custom_domains', `${app.name} has no custom domain to get a certificate for`, {
        status: 422,
        hint: `add one first: slipway domains:add ${app.name} www.example.com (${defaultHost(this.deps, app)} is the server's own name)`,
      });
    const before = this.deps.store.certs.forApp(app.id);
    if (before?.source === 'acme' && before.holdUntil !== null && before.holdUntil > this.now)
      throw new SlipwayError(
        'acme_failed',
        `the CA asked Slipway to wait until ${iso(before.holdUntil)} before ordering for ${app.name} again`,
        {
          status: 429,
          hint: 'Slipway tries again at that time by itself; see `slipway certs:report`',
        },
      );
    const log = new AttemptLog(
      this.deps.store,
      this.deps.layout,
      { appId: app.id, appName: app.name, user: opts.user, params: { domains, trigger: opts.trigger } },
      opts.progress,
    );
    const started = this.now;
    try {
      log.stage(`Getting a certificate for ${app.name} (${domains.join(', ')})`);
      const account = await accountFor(this.deps, this.deps.acme);
      const issued = await issue({
        directory: this.deps.acme.directory,
        account,
        domains,
        challenges: this.challenges,
        trust: extraBundleText(this.deps.extraCaBundle),
        progress: (line) => log.stage(line),
      });
      if (issued.accountUrl) this.deps.store.acmeAccounts.setUrl(account.id, issued.accountUrl);
      const checked = checkCertificate({
        bundle: splitBundle(`${issued.chain}\n${issued.key}`),
        domains,
        trusted: trustedCas(this.deps.extraCaBundle),
        fromCa: true,
      });
      // The app's domains may have changed while the CA worked: the next sweep sees the difference.
      const fresh = this.deps.store.apps.byId(app.id);
      if (!fresh) throw new SlipwayError('app_gone', `${app.name} was destroyed during the order`);
      await storeCertificate(this.deps, fresh, checked, 'acme');
      this.deps.store.certs.recordAttempt(app.id, { at: started, error: null, nextAttemptAt: null, failures: 0 });
      if (settingsOf(fresh).get('tls') !== 'auto') writeSetting(this.deps.store, fresh, 'tls', 'auto');
      log.stage(`Issued by ${checked.issuer}, expires ${iso(checked.notAfter)}; served at once, renewed automatically`);
      log.end();
      this.audit(app, opts, 'ok', { domains });
      return checked;
    } catch (err) {
      const message = (err as Error).message;
      log.error(message);
      log.end(message);
      this.failed(app, opts, err, { started, domains, jobId: log.job.id, before });
      throw err;
    }
  }

  /** Records a failed attempt: the row's back-off (when the app has an ACME row), the audit log and the webhook. */
  private failed(
    app: App,
    opts: ObtainOptions,
    err: unknown,
    at: { started: number; domains: string[]; jobId: number; before?: Cert },
  ): void {
    const row = this.deps.store.certs.forApp(app.id);
    let next: number | null = null;
    let failures = 1;
    if (row?.source === 'acme') {
      const failed = afterFailure(err, { now: this.now, previous: row.failures, notBefore: row.notBefore, notAfter: row.notAfter });
      ({ failures, nextAttemptAt: next } = failed);
      this.deps.store.certs.recordAttempt(app.id, { at: at.started, error: (err as Error).message, ...failed });
      this.deps.log?.(`tls: ${app.name}: ACME attempt ${failures} failed, next at ${iso(next)}: ${(err as Error).message}`);
    }
    this.audit(app, opts, 'failed', { domains: at.domains, error: (err as Error).message });
    this.deps.notifier?.certFailed({
      event: 'cert.failed',
      app: app.name,
      domains: at.domains,
      error: (err as Error).message,
      expires_at: row?.notAfter ? iso(row.notAfter) : null,
      next_attempt_at: next === null ? null : iso(next),
      failures,
      job_id: at.jobId,
      log_url: `/api/v1/jobs/${at.jobId}/log`,
      created_at: iso(this.now),
    });
  }

  /** The sweep's attempts are audited here; a user's certs:auto is audited by the command's entrance as well. */
  private audit(app: App, opts: ObtainOptions, outcome: 'ok' | 'failed', detail: Record<string, unknown>): void {
    if (opts.trigger !== 'renewal' && opts.trigger !== 'domains') return;
    this.deps.store.audit.record({
      userName: opts.user === 'slipway' ? null : opts.user,
      action: 'certs:renew',
      appName: app.name,
      detail: { ...detail, trigger: opts.trigger },
      source: 'slipway',
      outcome,
    });
  }
}

const iso = (ms: number) => new Date(ms).toISOString();
