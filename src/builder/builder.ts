import type { GuestUser } from '../runtime/driver.js';
import type { ChildOwner } from '../runtime/orphans.js';
import type { BuildOptions, BuildResult } from './buildpacks.js';
import type { ContainerBuildOptions } from './container-build.js';
import type { DockerfileBuildOptions, DockerfileContext } from './dockerfile.js';

/** How a release gets built: buildpacks on the host, buildpacks in a stack container, or the app's own Dockerfile. */
export type BuilderKind = 'host' | 'container' | 'dockerfile';

export interface BuildOutcome {
  buildpacks: string[];
  processTypes: Record<string, string>;
  configVars: Record<string, string>;
  /** Dockerfile builds: the image id the release runs from. */
  image?: string;
}

/** One release's build, as the pipeline asks every builder; each takes what its kind of build needs. */
export interface BuildRequest {
  app: { id: number; name: string };
  release: number;
  /** The deploy's job: names the build's guests. */
  jobId: number;
  /** The source, extracted: buildpacks compile it in place; a Dockerfile build reads its Dockerfile and Procfile here. */
  buildDir: string;
  /** Where a Dockerfile build's context comes from: the pushed commit, read from the repository, or `buildDir`. */
  context: DockerfileContext;
  /** The app's config vars, secrets opened, and SOURCE_VERSION; buildpacks read them from ENV_DIR. */
  env: Record<string, string>;
  envDir: string;
  /** CACHE_DIR of host builds (a container build keeps its cache in a volume). */
  cacheDir: string;
  /** Scratch space for this app's builds. */
  workDir: string;
  /** The built-in buildpacks folder. */
  builtinDir: string;
  /** The app's buildpack (its setting, else its BUILDPACK_URL). */
  buildpackUrl?: string;
  extraCaBundle?: string;
  egress?: BuildOptions['egress'];
  /** The app's own user, when the server makes guests: builds run as it. */
  user?: GuestUser;
  /** Whether the deploying user may use an app, whose images a Dockerfile may start from. */
  mayUse(app: string): boolean;
  /** The job log, a line at a time. */
  log(line: string): void;
  signal: AbortSignal;
  /** Marks the build's processes, so none outlives the deploy or a crashed daemon. */
  owner?: ChildOwner;
}

/**
 * A way to build a release. The pipeline picks one by data (BUILDER_FOR in
 * builders.ts: what the source asks for × the app's driver) and asks it to
 * build; it never knows whether that runs in a guest, a container or an
 * engine build.
 */
export interface Builder {
  /** True for buildpack builds: the pipeline checks where their buildpacks come from (egress) before it asks. */
  readonly runsBuildpacks: boolean;
  build(req: BuildRequest): Promise<BuildOutcome>;
  /** Starts what the build will run in ahead of it, as the deploy begins (see HostBuilder). */
  warmUp?(w: WarmUp): void;
  /** Ends what `warmUp` started for a job whose build did not use it. */
  discard?(jobId: number): Promise<void>;
  /** After a deploy: starts what the app's next build will run in, for the next push to find it up. */
  prepareNext?(next: NextBuild): void;
  /** Ends what `prepareNext` started for `app` (destroyed), or for every app (the server stops). */
  forget?(app?: string): Promise<void>;
}

/** What a container build is asked: everything but the engine and this server's home, which the builder owns. */
export type BuildpacksRequest = Omit<ContainerBuildOptions, 'docker' | 'home'>;
/** What a Dockerfile build is asked (see BuildpacksRequest). */
export type DockerfileRequest = Omit<DockerfileBuildOptions, 'docker' | 'home'>;

/**
 * The builds that need an image engine: container and Dockerfile builders
 * use it, and so do rollbacks that reuse or rebuild a Dockerfile release's
 * image. The pipeline never holds the engine itself.
 */
export interface ImageBuilder {
  /** Fails with the engine's one-line error (what to start) before a build says it begins. */
  ready(): Promise<void>;
  /** Buildpacks inside a container from the stack image (see container-build.ts); with the container warmUp started for its job, if any. */
  buildpacks(req: BuildpacksRequest): Promise<BuildResult>;
  /** Starts a job's build container ahead of its build (see Builder.warmUp). */
  warmUp?(w: WarmUp): void;
  /** Ends what `warmUp` started for a job whose build did not use it; waits until the container a build used is gone. */
  discard?(jobId: number): Promise<void>;
  /** See Builder.prepareNext. */
  prepareNext?(next: NextBuild): void;
  /** Ends what `prepareNext` started for `app` (destroyed), or for every app (the server stops). */
  forget?(app?: string): Promise<void>;
  /** A Dockerfile app's image; resolves with its id. */
  dockerfile(req: DockerfileRequest): Promise<string>;
  /**
   * An image recorded in a release archive, when the engine still has it and
   * it is an image of one of this server's apps that `mayUse` allows: its id,
   * else `found` says whether it exists at all (for the log line).
   */
  reusableImage(recorded: string, mayUse: (app: string) => boolean): Promise<{ id?: string; found: boolean }>;
}

/**
 * What a build's guest is opened with, known as its deploy starts (before the
 * source is checked out): the app, its user, the build's dirs, where its output goes.
 */
export interface WarmUp {
  app: string;
  jobId: number;
  user: GuestUser;
  buildDir: string;
  cacheDir: string;
  envDir: string;
  workDir: string;
  builtinDir: string;
  /** The server's extra CA bundle, which a build container mounts. */
  extraCaBundle?: string;
  log: (line: string) => void;
  signal?: AbortSignal;
}

/** What an app's next build will be opened with, known once a deploy is over: a WarmUp without its job. */
export type NextBuild = Omit<WarmUp, 'jobId' | 'log' | 'signal'>;
