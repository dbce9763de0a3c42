import type { SecretBox } from '../../secrets/box.js';
import { SEALED_PREFIX } from '../../store/sealed.js';
import type { PlatformCert, Store } from '../../store/index.js';
import { checkCertificate } from '../check.js';
import { splitBundle } from '../pem.js';
import { extraBundleText, trustedCas } from '../trust.js';
import { accountFor, type AcmeSettings } from './accounts.js';
import type { ChallengeBoard } from './challenges.js';
import { issue } from './issue.js';
import { afterFailure } from './problem.js';
import { DAY_MS, dueAt } from './schedule.js';

export interface PlatformAcmeDeps {
  store: Store;
  secrets: SecretBox;
  acme: AcmeSettings;
  /** The same board the apps' orders use: the router answers both sets at once. */
  challenges: ChallengeBoard;
  /** `--api-domain`. */
  domain: string;
  /** Hands a new certificate to the router (PlatformRouter.setPlatformCertificate): served at once, no restart. */
  serve: (cert: { chain: string; key: string }) => Promise<void>;
  extraCaBundle?: string;
  log?: (msg: string) => void;
  now?: () => number;
}

/** Not a valid env var name, so no config value can be swapped in for it. */
const KEY_NAME = 'tls:platform-key';
const MIN_SLEEP_MS = 1000;

/**
 * The server's own name (`--api-domain … --api-cert acme`) with a
 * certificate from the ACME CA: the one kept in SQLite is served at start
 * (a restart orders nothing), a new one is ordered when there is none, when
 * it is due (the apps' rule: a third of its life or 30 days left) or when
 * the name changed. A failure keeps serving what was served and waits the
 * apps' back-off, never less than the CA's Retry-After or rate limit.
 */
export class PlatformAcme {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;

  constructor(private readonly deps: PlatformAcmeDeps) {}

  /** Serves the stored certificate (if any) and arms the timer for the next order. */
  async start(): Promise<void> {
    const row = this.row();
    if (row?.chain && row.sealedKey) {
      try {
        await this.deps.serve({ chain: row.chain, key: this.open(row.sealedKey) });
      } catch (err) {
        this.deps.log?.(`tls: the stored certificate of ${this.deps.domain} is not served: ${(err as Error).message}`);
      }
    }
    this.arm();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /** The row `certs:report` shows for the server's own name. */
  row(): PlatformCert | undefined {
    return this.deps.store.platformCerts.get(this.deps.domain);
  }

  /** When the next order is due: now without a certificate, else the apps' renewal rule, never before a failure's wait. */
  dueAt(): number {
    const row = this.row();
    return dueAt({
      appId: 0,
      notBefore: row?.notBefore ?? null,
      notAfter: row?.notAfter ?? null,
      nextAttemptAt: row?.nextAttemptAt ?? null,
      matchesDomains: Boolean(row?.chain),
    });
  }

  /** One order, unless one runs; its failure is recorded, never thrown. */
  renew(): Promise<void> {
    this.running ??= this.attempt().finally(() => {
      this.running = undefined;
      this.arm();
    });
    return this.running;
  }

  private arm(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    const delay = Math.min(DAY_MS, Math.max(MIN_SLEEP_MS, this.dueAt() - this.now()));
    this.timer = setTimeout(() => void this.renew(), delay);
    this.timer.unref();
  }

  private async attempt(): Promise<void> {
    const { domain } = this.deps;
    const started = this.now();
    try {
      const account = await accountFor(this.deps, this.deps.acme);
      const issued = await issue({
        directory: this.deps.acme.directory,
        account,
        domains: [domain],
        challenges: this.deps.challenges,
        trust: extraBundleText(this.deps.extraCaBundle),
      });
      if (issued.accountUrl) this.deps.store.acmeAccounts.setUrl(account.id, issued.accountUrl);
      const checked = checkCertificate({
        bundle: splitBundle(`${issued.chain}\n${issued.key}`),
        domains: [domain],
        trusted: trustedCas(this.deps.extraCaBundle),
        fromCa: true,
      });
      this.deps.store.platformCerts.put(domain, {
        chain: checked.chain,
        sealedKey: this.deps.secrets.seal(domain, KEY_NAME, checked.key).slice(SEALED_PREFIX.length),
        issuer: checked.issuer,
        notBefore: checked.notBefore,
        notAfter: checked.notAfter,
        at: started,
      });
      await this.deps.serve({ chain: checked.chain, key: checked.key });
      this.deps.log?.(`tls: ${domain}: a certificate from ${checked.issuer}, expires ${new Date(checked.notAfter).toISOString()}`);
    } catch (err) {
      const row = this.row();
      const failed = afterFailure(err, {
        now: this.now(),
        previous: row?.failures ?? 0,
        notBefore: row?.notBefore ?? null,
        notAfter: row?.notAfter ?? null,
      });
      const { failures, nextAttemptAt: next } = failed;
      this.deps.store.platformCerts.recordFailure(domain, { at: started, error: (err as Error).message, ...failed });
      this.deps.log?.(
        `tls: ${domain}: ACME attempt ${failures} failed, next at ${new Date(next).toISOString()}: ${(err as Error).message}`,
      );
    }
  }

  private open(sealedKey: string): string {
    return this.deps.secrets.open(this.deps.domain, KEY_NAME, SEALED_PREFIX + sealedKey);
  }

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }
}
