import type Docker from 'dockerode';
import type { InstanceSpec } from '../driver.js';
import { LAUNCHER } from '../command.js';
import { CONTAINER_PORT, guestEnv } from '../docker/container-spec.js';
import { DEFAULT_LIMITS } from '../../docker/guest.js';
import { LABEL } from '../../docker/labels.js';
import type { GuestUser } from '../driver.js';

/** Swarm's own label on a task's container: how a node's engine finds the container of a task. */
export const TASK_LABEL = 'com.docker.swarm.task.id';

/** Seconds a task keeps serving after Swarm asks it to stop: the driver sees it go and re-routes first. */
export const DRAIN_S = 3;

/**
 * Swarm stops a task (a drained host, a scale-down) without asking the router
 * first. So the app runs as a child of this wrapper, which on SIGTERM waits
 * `$1` seconds — the driver reads the tasks every half second and takes the
 * stopping one out of the route — before passing the signal on. `$2` is the
 * launcher, `$3` the Procfile command, as for the docker driver.
 */
const DRAINING = [
  'bash -c "$2" "$0" "$3" & child=$!',
  'trap \'sleep "$1"; kill -TERM "$child" 2>/dev/null; wait "$child"; exit $?\' TERM',
  'wait "$child"',
].join('\n');

/**
 * One service per app, release and process type (`shop-v3-web`): a release's
 * tasks come up beside the previous release's, are health-checked and routed
 * to by the pipeline, and the old service is removed only after the router
 * drained it — Swarm's own rolling update stops old tasks without asking the
 * router first, which fails the requests in flight to them.
 */
export function serviceName(app: string, release: number, type: string): string {
  return `${app}-v${release}-${type}`;
}

export interface ServiceInput {
  spec: InstanceSpec;
  image: string;
  user: GuestUser;
  replicas: number;
  constraints: string[];
  home: string;
  graceMs: number;
}

/**
 * The service's spec: the same guest as the docker driver's (the app's user,
 * no capabilities, its limits, config as env, $PORT), the release's image,
 * and for web `$PORT` published in host mode with no fixed port: each task
 * gets a free one on its node (a fixed one would block two tasks on a node).
 */
export function serviceSpec(input: ServiceInput): Docker.CreateServiceOptions {
  const { spec, image, user, replicas, constraints, home, graceMs } = input;
  const limits = spec.limits ?? DEFAULT_LIMITS;
  const web = spec.type === 'web';
  const name = `slipway-${spec.app}-${spec.type}`;
  const launcher = spec.image && !spec.command ? undefined : ['bash', '-c', DRAINING, name, String(DRAIN_S), LAUNCHER, spec.command];
  // Swarm fills the templates per task: DYNO is web.1 … by slot (the instance index), SLIPWAY_HOST the node it runs on.
  const env = guestEnv(
    spec,
    { DYNO: `${spec.type}.{{.Task.Slot}}`, SLIPWAY_HOST: '{{.Node.Hostname}}', ...(web ? { PORT: String(CONTAINER_PORT) } : {}) },
    { image, home },
  );
  const labels = {
    [LABEL.app]: spec.app,
    [LABEL.release]: String(spec.release),
    [LABEL.process]: spec.type,
    [LABEL.home]: home,
    [LABEL.role]: 'service',
  };
  return {
    Name: serviceName(spec.app, spec.release, spec.type),
    Labels: labels,
    TaskTemplate: {
      ContainerSpec: {
        Image: image,
        Labels: { ...labels, [LABEL.role]: 'instance' },
        ...(launcher ? { Command: launcher } : {}),
        ...(spec.image ? {} : { Dir: '/app' }),
        User: `${user.uid}:${user.gid}`,
        Env: env,
        Init: true,
        CapabilityDrop: ['ALL'],
        StopGracePeriod: graceMs * 1_000_000,
      } as Docker.ContainerSpec,
      Resources: {
        Limits: { MemoryBytes: limits.memoryMb * 1024 * 1024, Pids: limits.pids } as Record<string, number>,
      },
      RestartPolicy: { Condition: 'any', Delay: 1_000_000_000 },
      Placement: { Constraints: constraints },
    },
    Mode: { Replicated: { Replicas: replicas } },
    EndpointSpec: {
      Mode: 'dnsrr',
      Ports: web ? [{ Protocol: 'tcp', TargetPort: CONTAINER_PORT, PublishMode: 'host' }] : [],
    },
  } as Docker.CreateServiceOptions;
}

/** The app's placement; a prod app without one goes to the `env=prod` nodes when there are any. */
export async function constraintsFor(docker: Docker, spec: InstanceSpec): Promise<string[]> {
  if (spec.placement?.length) return spec.placement;
  if (!spec.preferProd) return [];
  const nodes = (await docker.listNodes()) as Array<{ Spec?: { Labels?: Record<string, string> } }>;
  return nodes.some((n) => n.Spec?.Labels?.env === 'prod') ? ['node.labels.env==prod'] : [];
}
