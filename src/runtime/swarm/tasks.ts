import type Docker from 'dockerode';
import { CONTAINER_PORT } from '../docker/container-spec.js';

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
