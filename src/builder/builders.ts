import type { GuestHost } from '../guest/host.js';
import type { DriverKind } from '../runtime/kinds.js';
import type { Builder, BuilderKind, ImageBuilder } from './builder.js';
import { ContainerBuilder, DockerfileBuilder } from './engine-builders.js';
import { HostBuilder } from './host-builder.js';

/**
 * The choice as data: what the source asks for × the driver the app runs
 * with. A Dockerfile app cannot be built for host processes (undefined).
 */
export const BUILDER_FOR: Record<'buildpacks' | 'dockerfile', Record<DriverKind, BuilderKind | undefined>> = {
  buildpacks: { process: 'host', docker: 'container', swarm: 'container' },
  dockerfile: { process: undefined, docker: 'dockerfile', swarm: 'dockerfile' },
};

export interface BuildersOptions {
  /** This host's sandboxes, for host builds; absent when the server is not root. */
  guestHost?: GuestHost;
  /** The engine-backed builder, asked for on first use: a process-only server never connects to an engine. */
  images: () => ImageBuilder;
  /** How long an app's next build's guest waits after a deploy (0: none); see HostBuilder.prepareNext. */
  keepWarmMs?: number;
}

/** One builder of each kind, as a server holds them. */
export function createBuilders(opts: BuildersOptions): Record<BuilderKind, Builder> {
  return {
    host: new HostBuilder(opts.guestHost, { keepWarmMs: opts.keepWarmMs }),
    container: new ContainerBuilder(opts.images),
    dockerfile: new DockerfileBuilder(opts.images),
  };
}
