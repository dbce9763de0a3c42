/**
 * The contract between a container build's two halves: the daemon side
 * (container-build.ts) mounts these paths, the entry point inside the stack
 * container (container-entry.ts) reads them. Kept apart from both so the
 * entry imports nothing but the buildpack runner.
 */
export const IN_CONTAINER = {
  /** The app's source; buildpacks compile it in place (the host's build dir). */
  build: '/tmp/build',
  /** CACHE_DIR: the app's named cache volume. */
  cache: '/tmp/cache',
  /** ENV_DIR, read-only. */
  env: '/tmp/env',
  /** Scratch: buildpack copies, the buildpacks' HOME, and the outcome file. */
  scratch: '/tmp/slipway',
  outcome: '/tmp/slipway/build-outcome.json',
  /** Slipway itself (dist, package.json, node_modules, buildpacks), read-only. */
  root: '/opt/slipway',
} as const;

/** What the daemon asks of the entry point (argv[2], JSON): no config values, those are in ENV_DIR. */
export interface ContainerBuildRequest {
  app: string;
  /** Printed alone on a line once the outcome is written: the daemon then ends the container without waiting for its exit. */
  doneMark?: string;
  buildpackUrl?: string;
  sourceVersion?: string;
  /** The CA bundle's path inside the container. */
  extraCaBundle?: string;
}

/** What the entry point leaves in `outcome`: the runner's result, or its error's fields. */
export type ContainerBuildOutcome =
  | { ok: true; buildpacks: string[]; processTypes: Record<string, string>; configVars: Record<string, string> }
  | {
      ok: false;
      message: string;
      hint?: string;
      buildpack?: string;
      step?: 'fetch' | 'detect' | 'compile' | 'release';
      command?: string;
      exitCode?: number;
    };
