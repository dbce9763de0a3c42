import fs from 'node:fs';
import path from 'node:path';
import type { Limits } from '../runtime/driver.js';

/**
 * One guest's control groups: its memory, pids and cpu limits, the list of
 * every process in it (however it forked or `setsid`-ed), and whether the
 * kernel killed it for memory. Both hierarchies are handled: cgroup v1
 * (one directory per controller, this machine kind) and the unified v2.
 */
export interface Cgroup {
  /** The `cgroup.procs` files a launcher writes its own pid to before it execs anything. */
  readonly procsFiles: string[];
  /** Every live process in the guest (host pids). */
  pids(): number[];
  /** How many times the kernel's OOM killer fired inside this guest. */
  oomKills(): number;
  /** Changes the limits of a running guest. */
  apply(limits: Limits): void;
  /** SIGKILLs everything in it and waits until it is empty; true once empty. */
  killAll(timeoutMs?: number): Promise<boolean>;
  /** Removes the (empty) group. */
  remove(): void;
}

const ROOT = '/sys/fs/cgroup';
const V1_CONTROLLERS = ['memory', 'pids', 'cpu'] as const;

export type CgroupVersion = 1 | 2;

/** Which hierarchy the host mounts, or undefined when the controllers we need are missing. */
export function cgroupVersion(): CgroupVersion | undefined {
  if (fs.existsSync(path.join(ROOT, 'cgroup.controllers'))) {
    const have = fs.readFileSync(path.join(ROOT, 'cgroup.controllers'), 'utf8').split(/\s+/);
    return ['memory', 'pids'].every((c) => have.includes(c)) ? 2 : undefined;
  }
  return V1_CONTROLLERS.every((c) => fs.existsSync(path.join(ROOT, c, 'cgroup.procs'))) ? 1 : undefined;
}

/**
 * The parent group of everything one server starts (`slipway-<home id>`), so
 * two servers on one host never touch each other's guests, and a restarted
 * server finds what its dead predecessor left by listing one directory.
 */
export class CgroupTree {
  constructor(
    readonly version: CgroupVersion,
    readonly parent: string,
  ) {
    if (!/^[A-Za-z0-9_.-]+$/.test(parent)) throw new Error(`invalid cgroup name ${parent}`);
    for (const dir of this.dirs('')) fs.mkdirSync(dir, { recursive: true });
    if (version === 2) enableV2Controllers(path.join(ROOT, parent));
  }

  private dirs(name: string): string[] {
    if (this.version === 2) return [path.join(ROOT, this.parent, name)];
    return V1_CONTROLLERS.map((c) => path.join(ROOT, c, this.parent, name));
  }

  /** Creates (or reuses, after emptying it) the group `name` with `limits`. */
  create(name: string, limits: Limits): Cgroup {
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new Error(`invalid cgroup name ${name}`);
    const dirs = this.dirs(name);
    for (const dir of dirs) fs.mkdirSync(dir, { recursive: true });
    const group = this.version === 2 ? new V2Group(dirs[0]!) : new V1Group(dirs);
    group.apply(limits);
    return group;
  }

  /** Groups left under this server's parent: a dead daemon's guests. */
  leftovers(): Cgroup[] {
    const base = this.dirs('')[0]!;
    let names: string[];
    try {
      names = fs
        .readdirSync(base, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => e.name);
    } catch {
      return [];
    }
    return names.map((n) => (this.version === 2 ? new V2Group(path.join(base, n)) : new V1Group(this.dirs(n))));
  }
}

function readPids(file: string): number[] {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function write(file: string, value: string | number): void {
  try {
    fs.writeFileSync(file, String(value));
  } catch (err) {
    // memsw exists only with swap accounting; a missing optional knob is no error.
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

abstract class Group implements Cgroup {
  abstract readonly procsFiles: string[];
  abstract pids(): number[];
  abstract oomKills(): number;
  abstract apply(limits: Limits): void;
  protected abstract dirs(): string[];
  /** A CPU quota slows SIGKILL down (hundreds of ms); lift it first. */
  protected liftCpu(): void {}

  async killAll(timeoutMs = 5000): Promise<boolean> {
    this.liftCpu();
    const deadline = Date.now() + timeoutMs;
    // Killed processes leave the group within a few ms: look again soon, then less often.
    for (let wait = 1; ; wait = Math.min(wait * 2, 20)) {
      const pids = this.pids();
      if (!pids.length) return true;
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone meanwhile */
        }
      }
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, wait));
    }
  }

  remove(): void {
    for (const dir of this.dirs()) {
      try {
        fs.rmdirSync(dir);
      } catch {
        /* busy (a process still exiting) or gone; the next start's sweep retries */
      }
    }
  }
}

class V1Group extends Group {
  readonly procsFiles: string[];
  constructor(private readonly groupDirs: string[]) {
    super();
    this.procsFiles = groupDirs.map((d) => path.join(d, 'cgroup.procs'));
  }
  protected dirs() {
    return this.groupDirs;
  }
  private get memory() {
    return this.groupDirs[0]!;
  }
  pids(): number[] {
    return readPids(this.procsFiles[1]!);
  }
  oomKills(): number {
    try {
      const m = /oom_kill (\d+)/.exec(fs.readFileSync(path.join(this.memory, 'memory.oom_control'), 'utf8'));
      return m ? Number(m[1]) : 0;
    } catch {
      return 0;
    }
  }
  apply(limits: Limits): void {
    const bytes = limits.memoryMb * 1024 * 1024;
    // memsw must stay >= the memory limit: order the writes by direction.
    const raising = bytes > Number(readOr(path.join(this.memory, 'memory.limit_in_bytes'), '0'));
    const steps: Array<[string, number]> = [
      ['memory.limit_in_bytes', bytes],
      ['memory.memsw.limit_in_bytes', bytes],
    ];
    for (const [file, value] of raising ? steps.reverse() : steps) write(path.join(this.memory, file), value);
    write(path.join(this.groupDirs[1]!, 'pids.max'), limits.pids);
    write(path.join(this.groupDirs[2]!, 'cpu.shares'), limits.cpuShares);
  }
}

class V2Group extends Group {
  readonly procsFiles: string[];
  constructor(private readonly dir: string) {
    super();
    this.procsFiles = [path.join(dir, 'cgroup.procs')];
  }
  protected dirs() {
    return [this.dir];
  }
  pids(): number[] {
    return readPids(this.procsFiles[0]!);
  }
  oomKills(): number {
    const m = /oom_kill (\d+)/.exec(readOr(path.join(this.dir, 'memory.events'), ''));
    return m ? Number(m[1]) : 0;
  }
  apply(limits: Limits): void {
    write(path.join(this.dir, 'memory.max'), limits.memoryMb * 1024 * 1024);
    write(path.join(this.dir, 'memory.swap.max'), 0);
    write(path.join(this.dir, 'pids.max'), limits.pids);
    // cpu.shares 1024 ≙ cpu.weight 100.
    write(path.join(this.dir, 'cpu.weight'), Math.max(1, Math.min(10000, Math.round((limits.cpuShares * 100) / 1024))));
  }
  protected override liftCpu(): void {
    write(path.join(this.dir, 'cpu.max'), 'max');
  }
}

function readOr(file: string, dflt: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return dflt;
  }
}

/** v2 only hands controllers to children that the parent enabled in its subtree_control. */
function enableV2Controllers(dir: string): void {
  for (const d of [path.dirname(dir), dir]) {
    for (const c of ['+memory', '+pids', '+cpu']) write(path.join(d, 'cgroup.subtree_control'), c);
  }
}
