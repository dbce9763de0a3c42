import fs from 'node:fs';

/** Memory and CPU time of one process, as Linux reports them in /proc. */
export interface ProcessUsage {
  rssBytes: number;
  cpuSeconds: number;
}

const PAGE = 4096;
/** USER_HZ: the unit of utime and stime in /proc/PID/stat; 100 on every Linux Node runs on. */
const TICKS = 100;

/**
 * An instance's resident memory and CPU time: its process and every process
 * below it (the sandbox and shell wrappers sit above the app's server).
 * Undefined when the process is gone or /proc is not there.
 */
export function treeUsage(pid: number): ProcessUsage | undefined {
  const top = processUsage(pid);
  if (!top) return undefined;
  const seen = new Set([pid]);
  const queue = childrenOf(pid);
  while (queue.length && seen.size < 256) {
    const child = queue.shift()!;
    if (seen.has(child)) continue;
    seen.add(child);
    const u = processUsage(child);
    if (!u) continue;
    top.rssBytes += u.rssBytes;
    top.cpuSeconds += u.cpuSeconds;
    queue.push(...childrenOf(child));
  }
  return top;
}

function childrenOf(pid: number): number[] {
  try {
    return fs
      .readdirSync(`/proc/${pid}/task`)
      .flatMap((t) => fs.readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/))
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** One process alone; its own CPU time only (children are counted as processes of the tree). */
function processUsage(pid: number): ProcessUsage | undefined {
  try {
    const statm = fs.readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ');
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: fields count from the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = [11, 12].reduce((sum, i) => sum + Number(f[i] ?? 0), 0);
    return { rssBytes: Number(statm[1] ?? 0) * PAGE, cpuSeconds: ticks / TICKS };
  } catch {
    return undefined;
  }
}
