import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/**
 * The environment variable every child the daemon starts for a deploy (build
 * steps, `.slipway/*` hooks, the release phase) or a one-off carries:
 * `SLIPWAY_OWNER=<scope>:<kind>:<id>`, `scope` being this home's own random id.
 *
 * A process group is not enough to find them after a `kill -9` of the daemon:
 * a child may `setsid` into a group of its own. The environment it was
 * started with stays readable in `/proc/PID/environ` whatever it does, so a
 * restarted daemon finds every one of them by this marker (and the groups it
 * recorded catch members that cleared their environment). App instances do
 * not carry it: their drivers find their own leftovers.
 */
export const OWNER_VAR = 'SLIPWAY_OWNER';

/** What started the children: a deploy job (`id` = job id) or a one-off (`id` = its instance id). */
export type OwnerKind = 'deploy' | 'one-off';

/** Handed to whatever spawns a child for an owner. */
export interface ChildOwner {
  /** Merged last into the child's environment, so nothing overrides the marker. */
  readonly env: Readonly<Record<string, string>>;
  /** Records the group of a child spawned detached (its pid is its pgid); call the result once it exited. */
  adopt(pgid: number): () => void;
}

/**
 * Finds and ends the processes of builds, hooks and one-offs: at the end of
 * their job (what a build left running, `setsid` or not, goes with it, as a
 * build dyno does) and at the next start after a crash, when nobody is left
 * to wait for them (`reapAll`). Group records live in `dir`, one file each.
 */
export class Orphans {
  readonly scope: string;

  constructor(private readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.scope = loadScope(path.join(dir, 'scope'));
  }

  owner(kind: OwnerKind, id: string | number): ChildOwner {
    return {
      env: { [OWNER_VAR]: this.marker(kind, id) },
      adopt: (pgid) => {
        this.recordGroup(kind, id, pgid);
        return () => this.forget(kind, id, pgid);
      },
    };
  }

  /** Remembers a process group a dead daemon's successor must end; the leader's start time guards against pid reuse. */
  recordGroup(kind: OwnerKind, id: string | number, pgid: number): void {
    // A leader that exited already is still a zombie here (its spawner reaps it
    // later, in its event loop), and its group may live on: record it all the same.
    const start = readStat(pgid)?.start;
    if (start === undefined) return; // reaped: nobody can tell its group apart any more
    fs.writeFileSync(this.file(kind, id, pgid), `${pgid} ${start}\n`, { mode: 0o600 });
  }

  forget(kind: OwnerKind, id: string | number, pgid: number): void {
    fs.rmSync(this.file(kind, id, pgid), { force: true });
  }

  /** Ends whatever one owner still has running (its job is over); returns how many processes got SIGKILL. */
  reapOwner(kind: OwnerKind, id: string | number): number {
    const prefix = `${encodeURIComponent(kind)}.${encodeURIComponent(String(id))}.`;
    const killed = this.reapRecorded((name) => name.startsWith(prefix));
    const marker = this.marker(kind, id);
    return killMarked((value) => value === marker, killed).size;
  }

  /** At start, before anything is spawned: ends every recorded group and every marked process of this home. */
  reapAll(log: (msg: string) => void): number {
    const killed = killMarked(
      (value) => value.startsWith(`${this.scope}:`),
      this.reapRecorded(() => true),
    ).size;
    if (killed) log(`ended ${killed} process${killed === 1 ? '' : 'es'} of builds and one-offs left by a previous run of the daemon`);
    return killed;
  }

  private marker(kind: OwnerKind, id: string | number): string {
    return `${this.scope}:${kind}:${id}`;
  }

  private file(kind: OwnerKind, id: string | number, pgid: number): string {
    return path.join(this.dir, `${encodeURIComponent(kind)}.${encodeURIComponent(String(id))}.${pgid}.pgid`);
  }

  /** The pids it killed. */
  private reapRecorded(match: (name: string) => boolean): Set<number> {
    const killed = new Set<number>();
    for (const name of fs.readdirSync(this.dir)) {
      if (!name.endsWith('.pgid') || !match(name)) continue;
      const file = path.join(this.dir, name);
      const [pgid, start] = fs.readFileSync(file, 'utf8').trim().split(' ').map(Number);
      fs.rmSync(file, { force: true });
      if (!Number.isInteger(pgid) || pgid! <= 1) continue;
      for (const pid of killGroup(pgid!, start!)) killed.add(pid);
    }
    return killed;
  }
}

function loadScope(file: string): string {
  try {
    const scope = fs.readFileSync(file, 'utf8').trim();
    if (/^[0-9a-f]{16}$/.test(scope)) return scope;
  } catch {
    /* first start */
  }
  const scope = crypto.randomBytes(8).toString('hex');
  fs.writeFileSync(file, `${scope}\n`, { mode: 0o600 });
  return scope;
}

/**
 * Ends a recorded group. Its leader is trusted only with the start time it
 * had when recorded. Once the leader is gone the kernel keeps its pid out of
 * use while the group has members, so members started after it are its own.
 */
function killGroup(pgid: number, start: number): number[] {
  const leaderStart = startTime(pgid);
  if (leaderStart !== undefined && leaderStart !== start) return []; // the pid was reused
  const members = processes().filter((p) => p.pgrp === pgid && p.start >= start && p.pid !== process.pid);
  if (!members.length) return [];
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    /* ended meanwhile */
  }
  return members.map((p) => p.pid);
}

/**
 * SIGKILLs every process whose start-time environment carries a matching
 * marker, beside those in `killed` already; rescans until a pass finds none
 * (a fork may race the scan). Returns `killed` with them added.
 */
function killMarked(match: (value: string) => boolean, killed: Set<number>): Set<number> {
  for (let pass = 0; pass < 5; pass++) {
    let found = 0;
    for (const { pid } of processes()) {
      if (pid === process.pid || killed.has(pid)) continue;
      const value = ownerOf(pid);
      if (value === undefined || !match(value)) continue;
      try {
        process.kill(pid, 'SIGKILL');
        killed.add(pid);
        found++;
      } catch {
        /* ended meanwhile */
      }
    }
    if (!found) break;
  }
  return killed;
}

/** The marker a process was started with, if it can be read (another user's processes cannot). */
export function ownerOf(pid: number): string | undefined {
  let environ: string;
  try {
    environ = fs.readFileSync(`/proc/${pid}/environ`, 'latin1');
  } catch {
    return undefined;
  }
  const key = `${OWNER_VAR}=`;
  for (const entry of environ.split('\0')) if (entry.startsWith(key)) return entry.slice(key.length);
  return undefined;
}

interface Proc {
  pid: number;
  pgrp: number;
  /** Clock ticks after boot. */
  start: number;
}

/** Live (non-zombie) processes, from /proc. */
function processes(): Proc[] {
  const out: Proc[] = [];
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return out;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat && stat.state !== 'Z' && stat.state !== 'X') out.push({ pid: Number(entry), pgrp: stat.pgrp, start: stat.start });
  }
  return out;
}

function startTime(pid: number): number | undefined {
  const stat = readStat(pid);
  return stat && stat.state !== 'Z' ? stat.start : undefined;
}

function readStat(pid: number): { state: string; pgrp: number; start: number } | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime priority nice threads itreal starttime …"
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0]!, pgrp: Number(fields[2]), start: Number(fields[19]) };
}
