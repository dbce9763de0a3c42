import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type Docker from 'dockerode';

/**
 * The host file that lists a running container's processes (its cgroup, v2
 * or v1's pids hierarchy), found through its init's pid; undefined when this
 * host cannot see it (an engine on another machine, a layout not known here).
 * Asked right after the start: the engine answers slowly while a container exits.
 */
export async function cgroupProcsOfContainer(container: Docker.Container): Promise<string | undefined> {
  const info = await container.inspect().catch(() => undefined);
  const pid = info?.State?.Running ? info.State.Pid : 0;
  return pid ? cgroupProcsOf(pid, container.id) : undefined;
}

/**
 * Resolves true once `procs` lists no process (or is gone with its cgroup),
 * false when that has not happened within `withinMs`. A container's processes
 * are gone well before the engine reports its exit, which it does only after
 * taking down its network and mounts (~120–175 ms here).
 */
export async function emptied(procs: string, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    let listed: string;
    try {
      listed = fs.readFileSync(procs, 'utf8');
    } catch {
      return true;
    }
    if (!listed.trim()) return true;
    if (Date.now() > deadline) return false;
    await sleep(2);
  }
}

/**
 * The host file listing the processes of the container whose init is `pid`.
 * Only a cgroup named after the container counts: `pid` may have been reused.
 */
export function cgroupProcsOf(pid: number, containerId: string): string | undefined {
  let table: string;
  try {
    table = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of table.split('\n')) {
    const m = /^\d+:([^:]*):(\/.*)$/.exec(line);
    if (!m || !m[2]!.includes(containerId)) continue;
    const [, controllers, group] = m;
    const file =
      controllers === ''
        ? `/sys/fs/cgroup${group}/cgroup.procs`
        : controllers!.split(',').includes('pids')
          ? `/sys/fs/cgroup/pids${group}/cgroup.procs`
          : undefined;
    if (file && fs.existsSync(file)) return file;
  }
  return undefined;
}
