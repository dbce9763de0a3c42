import { openDb, type Db } from './db.js';
import { AcmeAccountStore } from './acme-accounts.js';
import { AppStore } from './apps.js';
import { AuditStore } from './audit.js';
import { CertStore } from './certs.js';
import { CollaboratorStore } from './collaborators.js';
import { DomainStore } from './domains.js';
import { DrainStore } from './drains.js';
import { GuestStore } from './guests.js';
import { HostStore } from './hosts.js';
import { PlatformCertStore } from './platform-certs.js';
import { JobStore } from './jobs.js';
import { ProjectStore } from './projects.js';
import { ReleaseStore } from './releases.js';
import { UserStore } from './users.js';
import { WebhookStore } from './webhooks.js';
import { HookStore, PreviewStore, VendorStore } from './vendors.js';

export type { AcmeAccount } from './acme-accounts.js';
export type { App, Mode, Environment } from './apps.js';
export type { AuditEntry, AuditOutcome, NewAuditEntry } from './audit.js';
export type { Cert, CertSource, NewCert } from './certs.js';
export type { Collaborator } from './collaborators.js';
export type { Domain } from './domains.js';
export type { Drain } from './drains.js';
export type { StoredLimits } from './guests.js';
export type { Host, NewHost } from './hosts.js';
export { STAGES } from './jobs.js';
export type { DeployJobKind, Job, JobKind, JobStatus, Stage, StageRecord, StageStatus, TaskJobKind } from './jobs.js';
export type { Project, Service } from './projects.js';
export type { PlatformCert } from './platform-certs.js';
export type { Release, ReleaseKind, ReleaseStatus } from './releases.js';
export type { User, Role, SshKey, TokenRow } from './users.js';
export type { Webhook, WebhookDelivery, DeliveryState } from './webhooks.js';
export type { PreviewLink, VendorAccount } from './vendors.js';

/** One handle on the SQLite file, with a repository object per table group. */
export class Store {
  readonly users: UserStore;
  readonly apps: AppStore;
  readonly releases: ReleaseStore;
  readonly jobs: JobStore;
  readonly domains: DomainStore;
  readonly webhooks: WebhookStore;
  readonly drains: DrainStore;
  readonly projects: ProjectStore;
  readonly collaborators: CollaboratorStore;
  readonly audit: AuditStore;
  readonly guests: GuestStore;
  readonly certs: CertStore;
  readonly hosts: HostStore;
  readonly acmeAccounts: AcmeAccountStore;
  readonly platformCerts: PlatformCertStore;
  readonly vendors: VendorStore;
  readonly hooks: HookStore;
  readonly previews: PreviewStore;
  private readonly accessListeners = new Set<() => void>();

  constructor(readonly db: Db) {
    const accessChanged = () => this.accessChanged();
    this.users = new UserStore(db, accessChanged);
    this.apps = new AppStore(db, accessChanged);
    this.releases = new ReleaseStore(db);
    this.jobs = new JobStore(db);
    this.domains = new DomainStore(db);
    this.webhooks = new WebhookStore(db);
    this.drains = new DrainStore(db);
    this.projects = new ProjectStore(db);
    this.collaborators = new CollaboratorStore(db, accessChanged);
    this.audit = new AuditStore(db);
    this.guests = new GuestStore(db);
    this.certs = new CertStore(db);
    this.hosts = new HostStore(db);
    this.acmeAccounts = new AcmeAccountStore(db);
    this.platformCerts = new PlatformCertStore(db);
    this.vendors = new VendorStore(db);
    this.hooks = new HookStore(db);
    this.previews = new PreviewStore(db);
  }

  /**
   * `listener` runs after every change that can take access away: a user, an
   * SSH key or an API token removed, a collaborator removed, an app handed
   * over or destroyed. Live sessions re-check themselves on it, whichever
   * entrance made the change. Returns the unsubscribe function.
   */
  onAccessChange(listener: () => void): () => void {
    this.accessListeners.add(listener);
    return () => this.accessListeners.delete(listener);
  }

  private accessChanged(): void {
    // A listener's failure is its own; the change is made and stays made.
    for (const listener of this.accessListeners) {
      try {
        listener();
      } catch {
        /* the listener reports its own errors */
      }
    }
  }

  static open(file: string): Store {
    return new Store(openDb(file));
  }

  close(): void {
    this.db.close();
  }
}
