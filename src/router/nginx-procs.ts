import fs from 'node:fs';
import net from 'node:net';

/**
 * What the nginx engine reads from Linux's /proc about its own nginx: which
 * worker processes the master has and whether they are shutting down, and
 * which TCP connections they hold. nginx has no API for either in its open
 * source edition; its process titles and sockets are the ground truth.
 */

export interface Worker {
  pid: number;
  /** Old generation after a reload: finishing its requests, no longer accepting. */
  shuttingDown: boolean;
}

/** True where this module can work at all. */
export const procAvailable = (): boolean => fs.existsSync('/proc/self/fd');

/** The master's worker processes (cache managers and exited ones left out). */
export function workers(masterPid: number): Worker[] {
  const found: Worker[] = [];
  for (const pid of children(masterPid)) {
    const title = readTitle(pid);
    // nginx rewrites argv (setproctitle): "nginx: worker process" or "... is shutting down".
    if (!title.startsWith('nginx: worker process')) continue;
    found.push({ pid, shuttingDown: title.includes('shutting down') });
  }
  return found;
}

function children(pid: number): number[] {
  try {
    const text = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8');
    return text.split(/\s+/).filter(Boolean).map(Number);
  } catch {
    // Kernels without CONFIG_PROC_CHILDREN: scan every process's parent.
    const found: number[] = [];
    for (const name of safeReaddir('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try {
        const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
        // "pid (comm) state ppid …": comm may hold spaces and parens, so parse after the last ')'.
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        if (ppid === pid) found.push(Number(name));
      } catch {
        /* gone meanwhile */
      }
    }
    return found;
  }
}

/** A process's title; empty for one that is gone or a zombie. */
export function readTitle(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
  } catch {
    return '';
  }
}

export interface Endpoint {
  host: string;
  port: number;
}

/**
 * How many TCP connections the given processes hold to any of `targets`.
 * IPv4 targets match address and port; others (IPv6, host names) match the
 * port only, which can only make a drain wait longer, never end early.
 */
export function connectionsTo(pids: number[], targets: Endpoint[]): number {
  if (pids.length === 0 || targets.length === 0) return 0;
  const inodes = new Set<string>();
  for (const pid of pids) for (const inode of socketInodes(pid)) inodes.add(inode);
  if (inodes.size === 0) return 0;
  let count = 0;
  for (const table of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = fs.readFileSync(`/proc/${pids[0]}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || !inodes.has(f[9]!)) continue;
      const remote = parseEndpoint(f[2]!);
      if (remote && targets.some((t) => matches(remote, t))) count++;
    }
  }
  return count;
}

function matches(remote: Endpoint, target: Endpoint): boolean {
  if (remote.port !== target.port) return false;
  return !net.isIPv4(target.host) || !net.isIPv4(remote.host) || remote.host === target.host;
}

function socketInodes(pid: number): string[] {
  const found: string[] = [];
  for (const fd of safeReaddir(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) found.push(m[1]!);
    } catch {
      /* closed meanwhile */
    }
  }
  return found;
}

/** `0100007F:1F90` → 127.0.0.1:8080. IPv6 entries give IPv4 for mapped addresses, else `::`-free hex. */
export function parseEndpoint(hex: string): Endpoint | undefined {
  const [addr, port] = hex.split(':');
  if (!addr || !port) return undefined;
  const bytes: number[] = [];
  // The kernel prints each 32-bit word of the address in host (little-endian) order.
  for (let w = 0; w < addr.length; w += 8) {
    const word = addr.slice(w, w + 8);
    for (let i = 6; i >= 0; i -= 2) bytes.push(parseInt(word.slice(i, i + 2), 16));
  }
  let host: string;
  if (bytes.length === 4) host = bytes.join('.');
  else if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) host = bytes.slice(12).join('.');
  else host = bytes.map((b) => b.toString(16).padStart(2, '0')).join('');
  return { host, port: parseInt(port, 16) };
}

/** This process's open-file limits (nginx inherits them), from /proc/self/limits. */
export function openFileLimits(): { soft: number; hard: number } | undefined {
  try {
    const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
    if (!m) return undefined;
    const n = (v: string) => (v === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(v));
    return { soft: n(m[1]!), hard: n(m[2]!) };
  } catch {
    return undefined;
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}
