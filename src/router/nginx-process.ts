// The nginx master is long-running (signals for reload and stop, its log lines followed): its own spawn. `nginx -t` is one-shot: execa.
import { spawn, type ChildProcess } from 'node:child_process';
import { execa } from 'execa';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SlipwayError } from '../errors.js';
import { readTitle } from './nginx-procs.js';

/** Debian puts nginx in /usr/sbin, which a non-root PATH often lacks. */
const SEARCH = ['/usr/sbin', '/usr/local/sbin', '/usr/local/nginx/sbin', '/sbin', '/usr/bin', '/usr/local/bin'];

export const INSTALL_HINT = 'or run the built-in router: --router builtin';

/** The nginx executable to run: `explicit` if given, else the first `nginx` on PATH or in the usual sbin folders. */
export function findNginx(explicit?: string): string {
  const candidates = explicit
    ? [explicit]
    : [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), ...SEARCH].map((d) => path.join(d, 'nginx'));
  for (const file of candidates) {
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (fs.statSync(file).isFile()) return file;
    } catch {
      /* next */
    }
  }
  // The install command is in the message itself: some entrances print only the message.
  const what = explicit
    ? `the nginx router cannot run ${explicit}: no such executable`
    : 'the nginx router needs nginx, which is not installed';
  throw new SlipwayError('nginx_missing', `${what}; install it with \`apt-get install nginx\``, {
    status: 500,
    hint: INSTALL_HINT,
  });
}

/** nginx's complaints without the timestamp and pid: `[emerg] unknown directive "x" in /…/myapp.conf:12`. */
export function nginxMessages(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) =>
      l
        .replace(/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d (\[\w+\]) \d+#\d+: (\*\d+ )?/, '$1 ')
        .replace(/^nginx: /, '')
        .trim(),
    )
    .filter((l) => /^\[(emerg|alert|crit|error)\]/.test(l));
  return lines.length ? lines.join('; ') : stderr.trim().split('\n').slice(-3).join('; ');
}

/** `nginx -t` on a whole config: resolves if nginx accepts it, else rejects with nginx's own message. */
export async function testConfig(bin: string, conf: string, prefix: string): Promise<void> {
  const result = await execa(bin, ['-t', '-q', '-c', conf, '-p', `${prefix}/`, '-g', 'daemon off;'], { timeout: 20_000, reject: false });
  if (!result.failed) return;
  // With `reject: false` a failed result is the ExecaError itself (command, exit code, stderr), kept as the cause.
  throw new SlipwayError(
    'router_config_rejected',
    `nginx rejected the configuration: ${nginxMessages(result.stderr) || result.shortMessage}`,
    { status: 500, cause: result },
  );
}

export interface MasterOptions {
  bin: string;
  conf: string;
  prefix: string;
  /** Every line nginx writes (warnings, errors). */
  log: (line: string) => void;
}

/**
 * One nginx master run in the foreground (`daemon off`), in its own process
 * group so that stopping it can take any worker with it, even one orphaned by
 * a crashed master.
 */
export class NginxMaster {
  readonly pid: number;
  /** Set once the master has exited; the reason, for error messages. */
  exitReason?: string;
  readonly exited: Promise<void>;
  /** Lines nginx wrote, numbered, so a reload can look at what came after its signal. */
  private readonly lines: string[] = [];
  private linesDropped = 0;

  private constructor(
    child: ChildProcess,
    private readonly log: (line: string) => void,
  ) {
    this.pid = child.pid!;
    let partial = '';
    const onData = (chunk: Buffer) => {
      const parts = (partial + chunk.toString('utf8')).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) if (line.trim()) this.record(line);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exitReason = signal ? `signal ${signal}` : `status ${code}`;
        resolve();
      }),
    );
  }

  static start(opts: MasterOptions): NginxMaster {
    const child = spawn(opts.bin, ['-c', opts.conf, '-p', `${opts.prefix}/`, '-g', 'daemon off;'], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // A spawn failure also arrives as an 'error' event, which would kill the daemon unhandled.
    child.on('error', (err) => opts.log(`could not run ${opts.bin}: ${err.message}`));
    if (child.pid === undefined)
      throw new SlipwayError('router_failed', `could not start ${opts.bin}`, { status: 500, hint: INSTALL_HINT });
    return new NginxMaster(child, opts.log);
  }

  get running(): boolean {
    return this.exitReason === undefined;
  }

  /** A position in nginx's output, for `errorsSince`. */
  mark(): number {
    return this.linesDropped + this.lines.length;
  }

  /**
   * `[emerg]` lines nginx wrote after `mark`: the master could not apply a
   * reload (it keeps the old config then). Only `emerg`: workers under load log
   * `alert`s (e.g. too few worker_connections) that say nothing about a reload.
   */
  errorsSince(mark: number): string[] {
    return this.lines.slice(Math.max(0, mark - this.linesDropped)).filter((l) => l.includes('[emerg]'));
  }

  /** The last lines nginx wrote, for "it exited" messages. */
  tail(n = 5): string {
    return nginxMessages(this.lines.slice(-n).join('\n'));
  }

  /** Asks the master to re-read its config (what `nginx -s reload` sends). */
  reload(): void {
    if (this.running) process.kill(this.pid, 'SIGHUP');
  }

  /** Graceful quit (`nginx -s quit`): workers finish their requests; after `graceMs` the whole group is killed. */
  async stop(graceMs: number): Promise<void> {
    if (this.running) {
      signalQuietly(this.pid, 'SIGQUIT');
      await Promise.race([this.exited, sleep(graceMs)]);
    }
    signalQuietly(-this.pid, 'SIGKILL');
    if (this.running) await Promise.race([this.exited, sleep(2000)]);
  }

  private record(line: string): void {
    this.lines.push(line);
    if (this.lines.length > 200) {
      this.lines.shift();
      this.linesDropped++;
    }
    this.log(line);
  }
}

/**
 * A master left behind by a Slipway that died without stopping it still holds
 * the router port. The pid file in our prefix names it; stop it if it really
 * is an nginx master running our config.
 */
export async function stopStaleMaster(pidFile: string, conf: string): Promise<boolean> {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
  } catch {
    return false;
  }
  if (!Number.isInteger(pid) || pid <= 1) return false;
  const title = readTitle(pid);
  if (!title.startsWith('nginx: master process') || !title.includes(conf)) return false;
  signalQuietly(pid, 'SIGQUIT');
  for (let i = 0; i < 50 && readTitle(pid) !== ''; i++) await sleep(100);
  signalQuietly(-pid, 'SIGKILL');
  signalQuietly(pid, 'SIGKILL');
  for (let i = 0; i < 20 && readTitle(pid) !== ''; i++) await sleep(100);
  return true;
}

function signalQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    /* already gone */
  }
}
