import type Docker from 'dockerode';
import { SlipwayError } from '../../errors.js';
import { CONTAINER_PORT } from '../docker/container-spec.js';
import { TASK_LABEL } from './service-spec.js';

/** A task as the driver follows it: where it runs and the port Swarm published for it there. */
export interface TaskView {
  id: string;
  slot: number;
  nodeId: string;
  /** The node's host name. */
  node: string;
  /** The node's address, where the published port answers. */
  address: string;
  port?: number;
}

export interface FailedTask {
  id: string;
  slot: number;
  error: string;
  /** The app's exit status, when it ran and exited. */
  exitCode?: number;
  /** When Swarm made the task (ms). */
  createdAt: number;
}

interface RawTask {
  ID: string;
  Slot?: number;
  CreatedAt?: string;
  NodeID?: string;
  DesiredState?: string;
  Status?: {
    State?: string;
    Err?: string;
    Message?: string;
    ContainerStatus?: { ExitCode?: number };
    PortStatus?: { Ports?: Array<{ TargetPort?: number; PublishedPort?: number }> };
  };
}

interface RawNode {
  ID: string;
  Description?: { Hostname?: string };
  Status?: { Addr?: string; State?: string };
}

/**
 * A service's tasks that run and are meant to (a task Swarm is shutting down
 * no longer counts: the router leaves it before it stops), on nodes that are
 * ready, and the ones that failed or were rejected (with Swarm's reason).
 */
export async function runningTasks(docker: Docker, service: string): Promise<{ running: TaskView[]; failed: FailedTask[] }> {
  const [tasks, nodes] = await Promise.all([
    docker.listTasks({ filters: { service: [service] } }) as Promise<RawTask[]>,
    docker.listNodes() as Promise<RawNode[]>,
  ]);
  const byId = new Map(nodes.map((n) => [n.ID, n]));
  const running: TaskView[] = [];
  const failed: FailedTask[] = [];
  for (const t of tasks) {
    const node = byId.get(t.NodeID ?? '');
    const state = t.Status?.State;
    if (state === 'failed' || state === 'rejected' || state === 'complete')
      failed.push({
        id: t.ID,
        slot: t.Slot ?? 0,
        error: (t.Status?.Err ?? t.Status?.Message ?? state).trim(),
        exitCode: t.Status?.ContainerStatus?.ExitCode,
        createdAt: Date.parse(t.CreatedAt ?? '') || 0,
      });
    if (state !== 'running' || t.DesiredState !== 'running' || !node || node.Status?.State !== 'ready') continue;
    const port = t.Status?.PortStatus?.Ports?.find((p) => p.TargetPort === CONTAINER_PORT)?.PublishedPort;
    running.push({
      id: t.ID,
      slot: t.Slot ?? 0,
      nodeId: node.ID,
      node: node.Description?.Hostname ?? node.ID.slice(0, 12),
      address: node.Status?.Addr ?? '',
      ...(port ? { port } : {}),
    });
  }
  return { running, failed };
}

/** Waits until a slot has a running task (for web, with its published port), failing after three tasks Swarm rejects or that exit. */
export async function awaitSlot(
  docker: Docker,
  o: { service: string; slot: number; id: string; web: boolean; skip: Set<string>; timeoutMs: number },
): Promise<TaskView> {
  const deadline = Date.now() + o.timeoutMs;
  // Only tasks made for this start count as its failures: the slot's history holds earlier ones.
  const since = Date.now() - 2000;
  const seen = new Set<string>();
  let lastError = '';
  while (Date.now() < deadline) {
    const { running, failed } = await runningTasks(docker, o.service);
    const task = running.find((t) => t.slot === o.slot && (!o.web || t.port) && !o.skip.has(t.id));
    if (task) return task;
    for (const f of failed.filter((f) => f.slot === o.slot && f.createdAt >= since)) {
      seen.add(f.id);
      lastError = f.error;
    }
    if (seen.size >= 3)
      throw new SlipwayError('container_start_failed', `${o.id} failed to start on the Swarm ${seen.size} times: ${lastError}`, {
        status: 500,
        hint: "check the app and the hosts (`slipway hosts`); the image comes from the server's --registry",
      });
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new SlipwayError('container_start_failed', `${o.id} did not start on the Swarm in time${lastError ? `: ${lastError}` : ''}`, {
    status: 504,
    hint: 'check that the hosts can pull from the registry and have room (`slipway hosts`)',
  });
}

/**
 * Whether the kernel killed the task's container at its memory limit, as its
 * node's engine recorded it; false when it cannot tell within `ms` (a node
 * that stopped answering must not hold up following the other tasks).
 */
export async function oomKilled(engine: Docker, taskId: string, ms = 2000): Promise<boolean> {
  const ask = async () => {
    const [found] = await engine.listContainers({ all: true, filters: { label: [`${TASK_LABEL}=${taskId}`] } });
    return found ? (await engine.getContainer(found.Id).inspect()).State?.OOMKilled === true : false;
  };
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([ask().catch(() => false), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Task states after which its container has stopped (and its published port is free). */
const ENDED = new Set(['complete', 'shutdown', 'failed', 'rejected', 'remove', 'orphaned']);

/**
 * Waits (at most `ms`) until tasks ended: every task of a service (by ID: a
 * removed service's name no longer finds its tasks, which linger until they
 * stopped), or one task. Ended means its container stopped, or it is gone.
 */
export async function awaitEnded(docker: Docker, which: { serviceId: string } | { taskId: string }, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const tasks = (await docker.listTasks('taskId' in which ? { filters: { id: [which.taskId] } } : {}).catch(() => undefined)) as
      Array<RawTask & { ServiceID?: string }> | undefined;
    const mine = tasks?.filter((t) => ('taskId' in which ? t.ID === which.taskId : t.ServiceID === which.serviceId));
    if (mine?.every((t) => ENDED.has(t.Status?.State ?? ''))) return;
    await new Promise((r) => setTimeout(r, 250));
  }
}
