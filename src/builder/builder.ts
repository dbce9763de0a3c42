import type { BuildResult } from './buildpacks.js';
import type { ContainerBuildOptions } from './container-build.js';
import type { DockerfileBuildOptions } from './dockerfile.js';

/** How a release gets built: buildpacks on the host, buildpacks in a stack container, or the app's own Dockerfile. */
export type BuilderKind = 'host' | 'container' | 'dockerfile';

export interface BuildOutcome {
  buildpacks: string[];
  processTypes: Record<string, string>;
  configVars: Record<string, string>;
  /** Dockerfile builds: the image id the release runs from. */
  image?: string;
}

/** What a container build is asked: everything but the engine and this server's home, which the builder owns. */
export type BuildpacksRequest = Omit<ContainerBuildOptions, 'docker' | 'home'>;
/** What a Dockerfile build is asked (see BuildpacksRequest). */
export type DockerfileRequest = Omit<DockerfileBuildOptions, 'docker' | 'home'>;

/**
 * The builds that need an image engine, as the pipeline sees them: it asks
 * for a build and gets a result or an error, and never holds the engine.
 * Host builds need no such builder: they run in the pipeline's own guests.
 */
export interface ImageBuilder {
  /** Fails with the engine's one-line error (what to start) before a build says it begins. */
  ready(): Promise<void>;
  /** Buildpacks inside a container from the stack image (see container-build.ts). */
  buildpacks(req: BuildpacksRequest): Promise<BuildResult>;
  /** A Dockerfile app's image; resolves with its id. */
  dockerfile(req: DockerfileRequest): Promise<string>;
  /**
   * An image recorded in a release archive, when the engine still has it and
   * it is an image of one of this server's apps that `mayUse` allows: its id,
   * else `found` says whether it exists at all (for the log line).
   */
  reusableImage(recorded: string, mayUse: (app: string) => boolean): Promise<{ id?: string; found: boolean }>;
}
