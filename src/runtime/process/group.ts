import fs from 'node:fs';

/**
 * Process-group helpers. Every instance is spawned as the leader of its own
 * group, so one signal reaches the app and everything it forked (`npm start`
 * → node, `sh -c` → workers).
 */

/** Sends `signal` to the whole group; false when the group is already gone. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/**
 * True while a live process is left in the group. `kill(-pgid, 0)` alone
 * is not enough: grandchildren orphaned to a PID 1 that does not reap (a
 * container running node or a bare init) stay as zombies and would look alive
 * forever. On Linux we read /proc and ignore zombies.
 */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
  const members = liveMembersFromProc(pgid);
  return members === undefined ? true : members > 0;
}

/** Number of non-zombie processes in the group, or undefined without /proc. */
function liveMembersFromProc(pgid: number): number | undefined {
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return undefined;
  }
  let live = 0;
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    // "pid (comm) state ppid pgrp …" — comm may hold spaces and parens.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') live++;
  }
  return live;
}

/** Resolves true once the group is gone, false if it is still there at `deadline`. */
export async function waitGroupGone(pgid: number, deadline: number, pollMs = 50): Promise<boolean> {
  for (;;) {
    if (!groupAlive(pgid)) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, Math.min(pollMs, Math.max(0, deadline - Date.now()))));
  }
}
