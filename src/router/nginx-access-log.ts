import fs from 'node:fs';
import path from 'node:path';
import { AccessFileFollower } from './nginx-access-file.js';
import { handleAccessLine, type AccessSinkOptions } from './nginx-access.js';
import { procAvailable } from './nginx-procs.js';

/** nginx's access file, relative to its prefix (the state dir); rotated copies get a suffix. */
export const ACCESS_FILE = 'access.log';

export interface AccessLogOptions {
  /** nginx's prefix, where the file lives. */
  stateDir: string;
  sink: AccessSinkOptions;
  /** Rotate once the file holds this much. */
  rotateAtBytes: number;
  /** Runs `fn` between the engine's other config changes (they reload too). */
  serial: <T>(fn: () => Promise<T>) => Promise<T>;
  /** One tested reload of the current config; rejects when nginx did not take it. */
  reload: () => Promise<void>;
  /** The worker pids of the running nginx; undefined when it does not run. */
  workerPids: () => number[] | undefined;
  /** Longest a rotated file is read for old workers finishing requests. */
  maxDrainMs: number;
  log: (msg: string) => void;
}

/**
 * The nginx engine's end of its access log (lines: nginx-access.ts): the file
 * is followed in batches, starts empty with each engine (lines a previous
 * daemon left were counted then, or belong to counters that are gone), and is
 * rotated so it never grows without bound.
 */
export class NginxAccessLog {
  private readonly follower: AccessFileFollower;
  private readonly file: string;
  private rotating = false;
  private retireTimer?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly opts: AccessLogOptions) {
    this.file = path.join(opts.stateDir, ACCESS_FILE);
    for (const name of fs.readdirSync(opts.stateDir))
      if (name.startsWith(ACCESS_FILE)) fs.rmSync(path.join(opts.stateDir, name), { force: true });
    createAccessFile(this.file);
    this.follower = new AccessFileFollower(this.file, (line) => handleAccessLine(line, opts.sink), opts.log, {
      atBytes: opts.rotateAtBytes,
      run: () => void this.rotate(),
    });
    this.follower.start();
  }

  /** After nginx stopped (it writes its buffers as it quits): a last read, then no more. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.retireTimer);
    this.follower.stop();
  }

  /**
   * Renames the file away and reloads, so the new workers open a new one (a
   * reload is what every deploy does; USR1 would have the workers reopen the
   * path themselves, which they cannot reach when they run unprivileged). The
   * old workers may still log requests they finish: the old file is read
   * until they are gone.
   */
  private async rotate(): Promise<void> {
    const before = this.opts.workerPids();
    if (this.rotating || this.stopped || !before) return;
    this.rotating = true;
    const to = `${this.file}.${Date.now()}`;
    const renamed = await this.opts
      .serial(async () => {
        fs.renameSync(this.file, to);
        createAccessFile(this.file);
        try {
          await this.opts.reload();
          return true;
        } catch (err) {
          fs.renameSync(to, this.file);
          this.opts.log(`router: could not rotate nginx's access log: ${(err as Error).message}`);
          return false;
        }
      })
      .catch(() => false);
    if (!renamed) return void (this.rotating = false);
    const deadline = Date.now() + (procAvailable() ? this.opts.maxDrainMs : 60_000);
    const check = () => {
      if (this.stopped) return;
      const writing = procAvailable() && before.some((pid) => fs.existsSync(`/proc/${pid}`));
      if (writing && Date.now() < deadline) return void (this.retireTimer = setTimeout(check, 1000).unref());
      this.follower.retire(to);
      this.rotating = false;
    };
    check();
  }
}

/**
 * Made before nginx opens it, for root only: nginx would create it world-readable,
 * and its lines hold clients' addresses and query strings. nginx's master opens
 * it as root; workers write through the descriptor they inherit.
 */
function createAccessFile(file: string): void {
  fs.closeSync(fs.openSync(file, 'a', 0o600));
  fs.chmodSync(file, 0o600);
}
