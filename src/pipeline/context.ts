import type { AcmeService } from '../tls/acme/service.js';
import type { App, DeployJobKind, Job, Mode, Release, ReleaseKind, Stage, Store } from '../store/index.js';
import type { Layout } from '../store/layout.js';
import type { Driver, Instance } from '../runtime/driver.js';
import type { DriverKind } from '../runtime/kinds.js';
import type { Orphans } from '../runtime/orphans.js';
import type { RouterEngine } from '../router/engine.js';
import type { JobLog } from './job-log.js';
import type { DeployError } from '../errors.js';
import type { DeployNotifier } from '../notify/events.js';
import type { SecretBox } from '../secrets/box.js';
import type { DrainManager } from '../drains/manager.js';
import type { Builder, BuilderKind, ImageBuilder } from '../builder/builder.js';
import type { GuestUsers } from '../guest/users.js';
import type { GuestHost } from '../guest/host.js';
import type { EgressSettings } from '../egress/index.js';

/** Server-wide settings the pipeline reads; set by `slipway server` flags and env. */
export interface PlatformSettings {
  /** Apps are served at `<app>.<domain>`. */
  domain: string;
  routerPort: number;
  /** The repo's built-in buildpacks folder. */
  buildpacksDir: string;
  /** CA bundle handed to builds and processes, for TLS-intercepting proxies. */
  extraCaBundle?: string;
  /** Succeeded releases whose archive and directory are kept. */
  keepReleases: number;
  /** Archive-procedure snapshots kept per app. */
  keepBackups: number;
  /** How long a new `web` instance has to answer HTTP before the deploy fails. */
  healthTimeoutMs: number;
  /** SIGTERM → SIGKILL grace when old instances stop. */
  stopGraceMs: number;
  /** How long a docker app's next build container waits for a push; 0 or absent: none is started. */
  buildKeepWarmMs?: number;
  /** The server's `--driver`: apps without their own `driver` setting run and build with it. */
  defaultDriver: DriverKind;
  /** What requests made for users may reach, and their timeouts and size limit (`--egress-*`); default: no internal address, 1 GiB. */
  egress?: EgressSettings;
}

export interface Services {
  store: Store;
  layout: Layout;
  driver: Driver;
  router: RouterEngine;
  settings: PlatformSettings;
  /** Told when each deploy ends (webhooks); absent when nobody listens. */
  notifier?: DeployNotifier;
  /** Opens secret config vars for process environments; absent only where no app has secrets (unit tests). */
  secrets?: SecretBox;
  /** Ships each app's log lines to its drains (deploy lines are teed from the job log); absent in unit tests. */
  drains?: DrainManager;
  /** Container and Dockerfile builds; default the Docker engine, connected on first use (see imageBuilder in builders.ts). */
  imageBuilder?: ImageBuilder;
  /** One builder of each kind (builder/builders.ts); made on first use from the guest host and the image builder (see builders.ts). */
  builders?: Record<BuilderKind, Builder>;
  /** Each app's own user and its limits per process type (both drivers). */
  guests?: GuestUsers;
  /** Sandboxes on this host for host builds (and the process driver's guests); absent when the server is not root. */
  guestHost?: GuestHost;
  /** Marks and records the processes of builds, hooks and one-offs, so none outlives its job or a crashed daemon. */
  orphans?: Orphans;
  /** ACME certificates for apps (certs:auto, tls=auto) and their renewal; absent without a router that answers challenges. */
  acme?: AcmeService;
  /** Counts each deploy that ends, its result and durations (`GET /metrics`); absent in unit tests. */
  metrics?: DeployMetrics;
}

/** The pipeline's side of the metrics: one call per deploy job that ended. */
export interface DeployMetrics {
  deployEnded(app: string, result: 'succeeded' | 'failed', seconds: number | undefined, buildSeconds?: number): void;
}

/** Where a deploy's code comes from. */
export type DeploySource =
  /** A pushed commit. `gitEnv` carries git's quarantine variables when the deploy runs inside pre-receive. */
  | { kind: 'git'; commit: string; ref: string; gitEnv?: Record<string, string> }
  /** An existing release archive: a rollback, a promotion, an uploaded artifact. */
  | {
      kind: 'archive';
      archive: string;
      sha256?: string;
      fromApp?: string;
      fromVersion?: number;
      commit?: string | null;
      description?: string;
    }
  /** A source tarball to build (the Build API, `deploy --source`). */
  | { kind: 'tarball'; file: string }
  /** Editable mode: the app's work tree as it is now, or first moved to `branch` of its `origin` remote (`slipway deploy`). */
  | { kind: 'worktree'; origin?: string; branch?: string }
  /** The app's `artifact_urls`, fetched by release-sync. */
  | { kind: 'urls'; urls: string[] }
  /** The live release's archive, resolved when the job starts (config changes, restarts). */
  | { kind: 'live' }
  /**
   * The app's `source` at its git provider, fetched with a vendor account into the app's repo by
   * init-sync (then deployed as a `git` source): `commit` when a webhook named it, else the branch head.
   */
  | { kind: 'provider'; source: string; commit?: string };

/** A source a running deploy works from: `live` is resolved to an archive when the job starts. */
export type ResolvedSource = Exclude<DeploySource, { kind: 'live' }>;

/** Which stages a deploy runs: its mode's row of MODES (modes.ts). */
export type Plan = Record<Stage, 'run' | 'skip'>;

/** What the queue runs: everything the runner needs, decided by the intent table (deploys.ts). */
export interface DeployPlan {
  app: App;
  userName: string;
  kind: DeployJobKind;
  mode: Mode;
  releaseKind: ReleaseKind;
  source: DeploySource;
  /** The stages the mode runs (MODES[mode]). */
  stages: Plan;
  /** Config for the new release; default: the app's current config. */
  config?: Record<string, string>;
  /** Changes applied to the app's config when the job starts (`undefined` unsets). */
  configChanges?: Record<string, string | undefined>;
}

/**
 * Where a mode assembles a release's code and runs it from. A mode's
 * difference in place is written once, in the two workspaces of
 * workspaces.ts, and the stages ask the deploy's workspace (`ctx.workspace`,
 * chosen by WORKSPACES in modes.ts) instead of asking which mode they are in.
 */
export interface Workspace {
  /** Where the code is assembled (`ctx.workDir`). */
  workDir(layout: Layout, app: string): string;
  /** Where release `version` runs from once placed. */
  releaseDir(layout: Layout, app: string, version: number): string;
  /** Puts a pushed commit's tree in the work dir. */
  checkout(ctx: DeployContext, commit: string, gitEnv?: Record<string, string>): Promise<void>;
  /** Moves the assembled code to where the release runs from; returns that directory. */
  place(ctx: DeployContext): Promise<string>;
  /** Removes what a failed deploy placed of release `version`. */
  discard(layout: Layout, app: string, version: number): Promise<void>;
  /** After the job, whatever its outcome: what of the work dir goes. */
  cleanUp(ctx: DeployContext): Promise<void>;
}

/** Everything one deploy knows; passed by reference through the stages, as the RFC's `cfg` mapping. */
export interface DeployContext {
  services: Services;
  app: App;
  job: Job;
  mode: Mode;
  /** The stages this deploy runs (its mode's row of MODES). */
  stages: Plan;
  /** Where its code is assembled and run from (WORKSPACES[mode]). */
  workspace: Workspace;
  source: ResolvedSource;
  releaseKind: ReleaseKind;
  log: JobLog;
  signal: AbortSignal;
  /** App config vars at the start of the deploy; stored on the release. */
  config: Record<string, string>;
  /** The release being made (created in init/sync). */
  release?: Release;
  /** Where the new release is assembled: the build dir. */
  workDir: string;
  /** Where the new release runs from once activated. */
  releaseDir?: string;
  buildpacks: string[];
  processTypes: Record<string, string>;
  /** Dockerfile apps: the image id the release runs from (instances start from it instead of the stack image). */
  image?: string;
  /** Buildpack-provided defaults, overridden by app config. */
  configVars: Record<string, string>;
  /** The live release before this deploy, and its instances, for rollback. */
  previous: { version: number | null; instances: Instance[] };
  /** Instances this deploy started (stopped again on rollback). */
  started: Instance[];
  /** True once the router sends traffic to the new release. */
  switched: boolean;
  /** The first stage failure, set before rollback and notify run. */
  failure?: DeployError;
  startedAt: number;
}

export type StageFn = (ctx: DeployContext) => Promise<void>;
