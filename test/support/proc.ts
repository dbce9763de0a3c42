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

/** Pids of live processes whose command line is exactly `argv` (guests' included: they are host processes too). */
export function processesRunning(argv: string[]): number[] {
  const want = `${argv.join('\0')}\0`;
  const pids = fs
    .readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map(Number);
  return pids.filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8') === want && alive(pid);
    } catch {
      return false;
    }
  });
}
