import type Docker from 'dockerode';

/**
 * The containers running an app's instances, as a user finds them with
 * `docker ps`: containers started as instances, and standbys that took an
 * instance's place (renamed as the instance, still labelled a standby; see
 * src/runtime/docker/standby.ts). A standby still waiting is no instance.
 */
export async function instanceContainers(
  docker: Docker,
  filter: { app: string; home?: string },
  opts: { all?: boolean } = {},
): Promise<Docker.ContainerInfo[]> {
  const label = [`slipway.app=${filter.app}`, ...(filter.home ? [`slipway.home=${filter.home}`] : [])];
  const found = await docker.listContainers({ all: !!opts.all, filters: { label } });
  return found.filter((c) => c.Labels['slipway.role'] === 'instance' || (c.Labels['slipway.role'] === 'standby' && !isWaiting(c)));
}

/** A standby that has not taken an instance's place keeps its standby name. */
export function isWaiting(c: Docker.ContainerInfo): boolean {
  return c.Labels['slipway.role'] === 'standby' && c.Names.some((n) => /-standby-[0-9a-f]+$/.test(n));
}

/** The release an instance container runs: its label, or for a former standby its name (`…-v<N>-<type>-<index>`). */
export function releaseOf(c: Docker.ContainerInfo): string | undefined {
  return c.Labels['slipway.release'] ?? /-v(\d+)-[A-Za-z0-9_]+-\d+$/.exec(c.Names[0] ?? '')?.[1];
}
