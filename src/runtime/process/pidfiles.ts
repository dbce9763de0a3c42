import fs from 'node:fs';
import path from 'node:path';

/**
 * A pid file per running instance, so a daemon that died without a shutdown
 * (kill -9, OOM, power loss of the daemon alone) can find the process groups
 * it left behind and end them before starting the apps again — otherwise the
 * old processes would hold ports and memory forever, unsupervised.
 */
export class PidFiles {
  constructor(private readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  private file(id: string): string {
    return path.join(this.dir, `${id}.pid`);
  }

  record(id: string, pid: number): void {
    fs.writeFileSync(this.file(id), `${pid}\n`);
  }

  forget(id: string, pid: number): void {
    try {
      if (fs.readFileSync(this.file(id), 'utf8').trim() === String(pid)) fs.rmSync(this.file(id));
    } catch {
      /* already gone */
    }
  }

  /**
   * Kills the groups of instances recorded by an earlier daemon. A pid is only
   * trusted when its environment still names the same app and DYNO, so a pid
   * the kernel reused for something else is left alone.
   */
  reapOrphans(log: (msg: string) => void): number {
    let reaped = 0;
    for (const name of fs.readdirSync(this.dir)) {
      if (!name.endsWith('.pid')) continue;
      const id = name.slice(0, -4);
      const file = path.join(this.dir, name);
      const pid = Number(fs.readFileSync(file, 'utf8').trim());
      fs.rmSync(file, { force: true });
      if (!Number.isInteger(pid) || pid <= 1 || !belongsTo(pid, id)) continue;
      try {
        process.kill(-pid, 'SIGKILL');
        reaped++;
        log(`${id}: ended process group ${pid} left by a previous run of the daemon`);
      } catch {
        /* exited meanwhile */
      }
    }
    return reaped;
  }
}

/** Instance ids are `${app}.v${release}.${type}.${index}`; the process env has SLIPWAY_APP and DYNO. */
function belongsTo(pid: number, id: string): boolean {
  const m = /^(.+)\.v\d+\.([^.]+)\.(\d+)$/.exec(id);
  if (!m) return false;
  try {
    const env = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    return env.includes(`SLIPWAY_APP=${m[1]}`) && env.includes(`DYNO=${m[2]}.${m[3]}`);
  } catch {
    return false;
  }
}
