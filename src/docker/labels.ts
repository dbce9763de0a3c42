import { createHash } from 'node:crypto';
import path from 'node:path';

/** Where the CA bundle of a TLS-intercepting proxy appears inside containers. */
export const CONTAINER_CA = '/etc/ssl/slipway/extra-ca.crt';

export const LABEL = {
  app: 'slipway.app',
  release: 'slipway.release',
  process: 'slipway.process',
  instance: 'slipway.instance',
  role: 'slipway.role',
  home: 'slipway.home',
  /** The host dir holding a container's /app upper layer, removed with it. */
  scratch: 'slipway.scratch',
  /** A standby's /app mount point on the host (see runtime/docker/standby.ts), unmounted with it. */
  slot: 'slipway.slot',
} as const;

/**
 * The `slipway.home` label value: a short hash of the data directory's path.
 * Several Slipway servers may share one engine; each only ever adopts or
 * removes containers and images that carry its own home's value.
 */
export function homeId(home: string): string {
  return createHash('sha256').update(path.resolve(home)).digest('hex').slice(0, 10);
}

/**
 * Labels for an image built for one release (a Dockerfile app's `slipway/<app>:v<N>`):
 * release rotation finds and removes the images of pruned releases by them.
 */
export function releaseImageLabels(app: string, release: number, home: string): Record<string, string> {
  return { [LABEL.app]: app, [LABEL.release]: String(release), [LABEL.role]: 'image', [LABEL.home]: home };
}
