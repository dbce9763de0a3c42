import { DEFAULT_LIMITS } from '../guest/users.js';
import type { Host } from '../store/index.js';
import { liveTasks, type HostDeps } from './membership.js';
import { managerState } from './swarm.js';

/** One host as `hosts`, `hosts:info` and `GET /api/v1/hosts` show it. */
export interface HostView {
  name: string;
  engine: string;
  nodeId: string;
  role: 'manager' | 'worker' | null;
  /** The node's address in the Swarm. */
  address: string | null;
  /** Swarm's view: ready, down, unknown, disconnected; `unknown` when the manager cannot say. */
  state: string;
  /** active, pause, drain. */
  availability: string | null;
  version: string | null;
  cpus: number | null;
  memory: number | null;
  labels: Record<string, string>;
  /** How many more instances of the default limit (DEFAULT_LIMITS.memoryMb) fit in its memory. */
  slots: number | null;
  /** The Swarm tasks running there: `SERVICE.SLOT` and their state. */
  instances: Array<{ name: string; state: string }>;
}

export interface HostsReport {
  hosts: HostView[];
  /** Set when the Swarm cannot be asked: why, and what to do. */
  problem?: { message: string; hint: string };
}

const unknown = (h: Host): HostView => ({
  name: h.name,
  engine: h.engine,
  nodeId: h.nodeId,
  role: null,
  address: null,
  state: 'unknown',
  availability: null,
  version: null,
  cpus: null,
  memory: null,
  labels: {},
  slots: null,
  instances: [],
});

/** Every recorded host as the Swarm's manager sees it; without a manager, what is recorded and why the rest is missing. */
export async function hostsReport(deps: HostDeps, only?: Host[]): Promise<HostsReport> {
  const hosts = only ?? deps.store.hosts.list();
  const swarm = await managerState(deps.manager);
  if (!swarm.ok) return { hosts: hosts.map(unknown), problem: { message: swarm.why, hint: swarm.hint } };
  const docker = deps.manager.docker;
  const nodes = new Map(((await docker.listNodes()) as Array<Record<string, any>>).map((n) => [n.ID as string, n]));
  const services = new Map(
    ((await docker.listServices()) as Array<Record<string, any>>).map((s) => [s.ID as string, s.Spec?.Name as string]),
  );
  const views: HostView[] = [];
  for (const h of hosts) {
    const node = nodes.get(h.nodeId);
    if (!node) {
      views.push({ ...unknown(h), state: 'not in the Swarm' });
      continue;
    }
    const tasks = await liveTasks(docker, h.nodeId);
    const memory: number = node.Description?.Resources?.MemoryBytes ?? 0;
    const labels = { ...(node.Spec?.Labels ?? {}) } as Record<string, string>;
    delete labels['slipway.host'];
    views.push({
      name: h.name,
      engine: h.engine,
      nodeId: h.nodeId,
      role: node.Spec?.Role ?? null,
      address: node.Status?.Addr ?? null,
      state: node.Status?.State ?? 'unknown',
      availability: node.Spec?.Availability ?? null,
      version: node.Description?.Engine?.EngineVersion ?? null,
      cpus: node.Description?.Resources?.NanoCPUs ? node.Description.Resources.NanoCPUs / 1e9 : null,
      memory: memory || null,
      labels,
      slots: memory ? Math.max(0, Math.floor(memory / (DEFAULT_LIMITS.memoryMb * 1024 * 1024)) - tasks.length) : null,
      instances: tasks.map((t) => ({
        name: `${services.get(t.ServiceID) ?? t.ServiceID}.${t.Slot ?? t.ID.slice(0, 12)}`,
        state: t.Status.State,
      })),
    });
  }
  return { hosts: views };
}
