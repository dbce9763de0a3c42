import type Docker from 'dockerode';
import { LABEL } from '../../docker/labels.js';
import { awaitEnded } from './tasks.js';

/** A service by name, or undefined when Swarm has none of that name. */
export async function inspectService(docker: Docker, name: string): Promise<Docker.Service | undefined> {
  return (await docker
    .getService(name)
    .inspect()
    .catch((err: { statusCode?: number }) => {
      if (err.statusCode === 404) return undefined;
      throw err;
    })) as Docker.Service | undefined;
}

/** Sets a service's replicas (Swarm adds or removes the tasks of the highest slots). */
export async function setReplicas(docker: Docker, service: string, replicas: number): Promise<void> {
  const current = await inspectService(docker, service);
  if (!current) return;
  const spec = current.Spec as Docker.ServiceSpec & { Mode: { Replicated: { Replicas: number } } };
  await docker.getService(service).update({ ...spec, version: current.Version!.Index, Mode: { Replicated: { Replicas: replicas } } });
}

/** Removes a service and waits (at most `waitMs`) until each of its tasks' containers stopped. */
export async function removeService(docker: Docker, name: string, waitMs: number): Promise<void> {
  const id = (await inspectService(docker, name))?.ID;
  await docker
    .getService(name)
    .remove()
    .catch((err: { statusCode?: number }) => {
      if (err.statusCode !== 404) throw err;
    });
  if (id) await awaitEnded(docker, { serviceId: id }, waitMs);
}

/** `apps:destroy`: every service and release image of the app this home made. */
export async function removeAppServices(docker: Docker, home: string, app: string): Promise<void> {
  const label = [`${LABEL.home}=${home}`, `${LABEL.app}=${app}`];
  for (const s of await docker.listServices({ filters: { label } }))
    await docker
      .getService(s.ID)
      .remove()
      .catch(() => undefined);
  for (const image of await docker.listImages({ filters: { label } }))
    await docker
      .getImage(image.Id)
      .remove({ force: true })
      .catch(() => undefined);
}
