import fs from 'node:fs';

/**
 * True for a running process. A zombie — dead, but not reaped because PID 1 in
 * some containers never reaps orphans — counts as gone, as it holds nothing.
 */
export function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}
