import type Docker from 'dockerode';
import { releaseSlots, removeSlot } from '../../src/docker/slots.js';

/**
 * Removes what a test or benchmark left in the shared engine, found by its
 * labels (`slipway.app=…` or `slipway.home=…`; an object must carry every
 * label given, as in the engine's filters): containers in any state (with
 * their /app overlay volumes), the images built for releases and the
 * build-cache volumes. Never anything else:
 * other servers (and other suites) share this engine.
 */
export async function removeFromEngine(docker: Docker, label: string[]): Promise<void> {
  const homes = new Set<string>();
  for (const c of await docker.listContainers({ all: true, filters: { label } })) {
    await docker
      .getContainer(c.Id)
      .remove({ force: true, v: true })
      .catch(() => undefined);
    // A standby's /app mount point on the host, and then its server's tmpfs of them (see src/docker/slots.ts).
    if (c.Labels['slipway.slot']) await removeSlot(c.Labels['slipway.slot']).catch(() => undefined);
    if (c.Labels['slipway.home']) homes.add(c.Labels['slipway.home']);
  }
  for (const home of homes) await releaseSlots(home).catch(() => undefined);
  for (const i of await docker.listImages({ filters: { label } }))
    await docker
      .getImage(i.Id)
      .remove({ force: true })
      .catch(() => undefined);
  for (const v of (await docker.listVolumes({ filters: { label } })).Volumes ?? [])
    await docker
      .getVolume(v.Name)
      .remove()
      .catch(() => undefined);
}
