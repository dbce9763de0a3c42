/**
 * The contract every runtime driver (process, docker, swarm) answers. The
 * pipeline and commands only ever see this interface: runtime/select.ts makes
 * the drivers, and runtime/multiplexer.ts sends each call to the one that
 * runs the app. test/runtime/driver-contract.ts is what every driver passes.
 */

export type InstanceState = 'starting' | 'up' | 'crashed' | 'stopping' | 'stopped';

/**
 * The resources one process may use (Heroku's dyno sizes, Dokku's
 * `resource:limit`), set per app and process type with `ps:resize`.
 */
export interface Limits {
  /** Memory in MiB; the process is killed past it (reported as R14/R15). */
  memoryMb: number;
  /** Relative CPU weight (cgroup cpu.shares; 1024 is one share of an idle core). */
  cpuShares: number;
  /** Most processes and threads at once (stops fork loops). */
  pids: number;
}

/** The app's own unprivileged OS user; its guests run as it under every driver. */
export interface GuestUser {
  uid: number;
  gid: number;
}

export interface InstanceSpec {
  app: string;
  release: number;
  /** Process type from the Procfile, e.g. `web`, `worker`. */
  type: string;
  /** 1-based instance number: web.1, web.2 … */
  index: number;
  /** Procfile command line; run through bash as Heroku does. */
  command: string;
  /** The unpacked release directory the process runs in. */
  releaseDir: string;
  /** Persistent data dir shared by every release (SLIPWAY_DATA_DIR). */
  dataDir: string;
  /** Config vars and buildpack config_vars, already merged. PORT is added by the driver for `web`. */
  env: Record<string, string>;
  /** File the instance's output is appended to, each line timestamped and tagged. */
  logFile: string;
  /** Hides the app's secret values in what is written to `logFile`. */
  mask?: { mask(text: string): string };
  /**
   * Dockerfile apps: the image the instance runs from, with the app inside it
   * (no release dir mounted). An empty `command` then means the image's own
   * CMD/ENTRYPOINT. Only drivers with guests can honour it.
   */
  image?: string;
  /** The app's own user; absent only where the server cannot switch users (not root). */
  user?: GuestUser;
  /** Limits of this process type. */
  limits?: Limits;
  /** Swarm placement constraints (`node.labels.env==prod`); other drivers run on this machine. */
  placement?: string[];
  /** Without `placement`: a prod app, which runs on the `env=prod` nodes when the Swarm has any. */
  preferProd?: boolean;
}

export interface Instance {
  /** Stable id, e.g. `myapp.v3.web.1`. */
  id: string;
  app: string;
  release: number;
  type: string;
  index: number;
  /** Port the instance listens on (web only), at `host`. */
  port?: number;
  /** Where `port` answers; absent: 127.0.0.1 (the swarm driver: the address of the node its task runs on). */
  host?: string;
  /** The Swarm node (host name) its task runs on; swarm driver only. */
  node?: string;
  pid?: number;
  state: InstanceState;
  restarts: number;
  startedAt: number;
  /** Why it last ended when the platform knows (`memory`: killed at its memory limit, Heroku's R15). */
  reason?: string;
}

/** A one-off or interactive process in an app's release (`run`, `enter`). */
export interface ExecRequest {
  app: string;
  release: number;
  releaseDir: string;
  dataDir: string;
  /** The app's environment (config vars over buildpack defaults), as its processes see it. */
  env: Record<string, string>;
  /** Program and arguments, never joined into a shell line. */
  argv: string[];
  /** Dockerfile apps: one-offs run from the release's image (see InstanceSpec.image). */
  image?: string;
  /** Run beside this instance (e.g. `myapp.v3.web.1`); drivers with guests exec inside it. */
  instanceId?: string;
  /** Allocate a terminal of this size (ssh -t). */
  tty?: { cols: number; rows: number };
  stdin: import('node:stream').Readable;
  stdout: import('node:stream').Writable;
  stderr: import('node:stream').Writable;
  /** Registers a listener for terminal size changes (ssh window-change). */
  onResize?(listener: (cols: number, rows: number) => void): void;
  signal?: AbortSignal;
  /** Names a one-off (`DYNO`, log tag), e.g. `run.7`; default the driver's next `run.N`. */
  dyno?: string;
  /** Called once the process (or its container) is running, so a detached one-off can report it is up. */
  onStart?(): void;
  /** The app's own user (see InstanceSpec.user). */
  user?: GuestUser;
  /** Limits of a one-off (Heroku sizes `run` like the app's web). */
  limits?: Limits;
  /** Who the process belongs to (see runtime/orphans.ts): drivers give it the marker env and record its group. */
  owner?: import('./orphans.js').ChildOwner;
  /**
   * Writes to /app are kept in `releaseDir` (app.json `predeploy`, whose writes
   * Dokku commits to the image); otherwise /app is ephemeral, as for every process.
   */
  keepWrites?: boolean;
  /**
   * Host paths the guest also sees, at the same path (the archive stage's
   * snapshot dir and file); writable ones are handed to the guest's user.
   */
  mounts?: Array<{ path: string; readOnly?: boolean }>;
}

export interface Driver {
  readonly name: string;
  /** Starts one instance; resolves once the process is spawned (not yet healthy). */
  start(spec: InstanceSpec): Promise<Instance>;
  /** Stops one instance: SIGTERM, then SIGKILL after `graceMs`. Resolves when it is gone. */
  stop(id: string, opts?: { graceMs?: number }): Promise<void>;
  /** Every instance this driver supervises, optionally for one app. */
  instances(app?: string): Instance[];
  /** Resolves with the instance's exit if it dies before `ms` elapse; used to fail fast during activation. */
  onExit(id: string, listener: (code: number | null, signal: string | null) => void): () => void;
  /** Runs a one-off process in the release (with a terminal when asked); resolves with its exit code. */
  exec(req: ExecRequest): Promise<number>;
  /** Stops everything (daemon shutdown). */
  shutdown(opts?: { graceMs?: number }): Promise<void>;
  /**
   * Release rotation pruned `release`: drop what it left in the runtime
   * (containers, images), except images in `keepImages` — a kept release
   * (a rollback to it) may run from the same image.
   */
  removeRelease?(app: string, release: number, opts?: { keepImages?: string[] }): Promise<void>;
  /**
   * Whether the listener on instance `id`'s port is that instance's own
   * (undefined: not this driver's instance). The router asks before each
   * request, so a crashed instance's port, taken by someone else, gets none.
   */
  serves?(id: string): boolean | undefined;
  /** Whether the connection from `clientPort` to an instance's `port` was accepted by that instance (undefined: not this driver's port). */
  ownsConnection?(port: number, clientPort: number): Promise<boolean> | undefined;
  /**
   * Once instance `id` passed its health check, before the router is pointed
   * at it: whether what answered is the instance itself (false: another
   * process holds its port; undefined: not this driver's instance).
   */
  confirmUp?(id: string): Promise<boolean | undefined>;
  /** Once every live app is back after a start: drop what no live release adopted. */
  sweep?(): Promise<void>;
  /**
   * After a deploy of `app` ended: get ready for its next release's start
   * ahead of time (the docker driver's standby container). `first`: what its
   * first web instance will be started with, but for the release, when no
   * release of it started here yet (`apps:create`). Never throws and never
   * holds the caller up.
   */
  prepareNext?(app: string, first?: InstanceSpec): void;
  /** `apps:destroy`: drop everything the runtime keeps for the app (containers, images, build cache). */
  removeApp?(app: string): Promise<void>;
}
