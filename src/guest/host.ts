import { execa } from 'execa';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { SlipwayError } from '../errors.js';
import type { GuestUser, Limits } from '../runtime/driver.js';
import { cgroupVersion, CgroupTree, type Cgroup } from './cgroups.js';
import { SocketOwners } from './socket-owners.js';
import { builtLauncher, checkPath, joinCommand, prepareLaunch, type GuestMount, type Launch } from './launch.js';
import { guestIdentity, type Identity } from './identity.js';

/** PATH inside a guest: buildpack runtimes in the release first, then the host's system dirs. */
export const GUEST_PATH =
  '/app/.heroku/node/bin:/app/.heroku/python/bin:/app/node_modules/.bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Where an app's release and data dir are inside its guest, under either driver. */
export const GUEST_APP = '/app';
export const GUEST_DATA = '/data';
/** Where guests' mount points are made, per server (`$SLIPWAY_HOME`'s hash) and guest; the mounts exist only in each guest's namespace. */
const STAGE = '/run/slipway-guest';

export interface GuestRun {
  /** Names the guest's cgroup and scratch dir: an instance id, `APP.run.N`, `APP.build.N`. */
  name: string;
  user: GuestUser;
  limits: Limits;
  /**
   * What /app is: the release as an ephemeral overlay (instances, one-offs,
   * the release phase) or bound as it is, so writes are kept (builds,
   * predeploy, hooks before activation).
   */
  app?: { dir: string; ephemeral: boolean };
  /** The app's persistent data dir, at /data (and at its host path, where a release's `data` link points). */
  dataDir?: string;
  /** Further host paths the guest sees, at `target` or else at the same path (a build's dirs, the buildpacks). */
  binds?: Array<{ path: string; target?: string; writable: boolean }>;
  /** Working directory inside; default /app. */
  cwd?: string;
  env: Record<string, string>;
  argv: string[];
  tty?: boolean;
  /** `argv` is the guest's pid 1 (see LaunchSpec.asInit). */
  asInit?: boolean;
}

/** One launched-to-be guest: the command to spawn, and what tears it down. */
export interface Guest {
  readonly launch: Launch;
  readonly cgroup: Cgroup;
  /** Sends `signal` to the app's processes, not to the sandbox's launcher or its pid 1 (which would end all at once). */
  signalApp(signal: NodeJS.Signals): number;
  /** True when the kernel killed something in it for exceeding its memory limit. */
  memoryKilled(): boolean;
  /** Kills whatever is left, removes its cgroup and scratch (the ephemeral /app writes). Idempotent. */
  destroy(): Promise<void>;
}

export interface GuestHostOptions {
  /** $SLIPWAY_HOME: scratch lives in `guests/`, and its hash names this server's cgroup. */
  home: string;
  /** A CA bundle outside /usr and /etc is bound into every guest at its own path. */
  extraCaBundle?: string;
  log?: (msg: string) => void;
  /** `chain`: launch through unshare, bash, mount and setpriv even where the compiled launcher is built (the default uses it). */
  launcher?: 'compiled' | 'chain';
}

/**
 * The process driver's guests: sandboxes on this host, one per instance,
 * one-off and build step (see launch.ts for how one is built). Only a root
 * daemon can make them; `create` checks everything they need at start, so a
 * missing tool is one line at `slipway server`, not a failure at a deploy.
 */
export class GuestHost {
  private readonly scratch: string;
  private readonly stage: string;
  private readonly launcher: string | undefined;
  /** Numbers staging dirs, so a guest reopened under the same name never shares one with its predecessor. */
  private opened = 0;
  /** The host's own accounts, read once: the system part of every guest's /etc/passwd and /etc/group. */
  private systemIdentity?: Identity;
  /** Guests open now, by name, so `enter` can join a running instance's. */
  private readonly open_ = new Map<string, { run: GuestRun; cgroup: Cgroup }>();
  /** Whose sockets a guest's port and connections are: the router and the supervisors ask before they send it traffic. */
  readonly sockets: SocketOwners;
  private constructor(
    private readonly opts: GuestHostOptions,
    private readonly cgroups: CgroupTree,
    serverId: string,
  ) {
    this.scratch = path.join(opts.home, 'guests');
    this.launcher = opts.launcher === 'chain' ? undefined : builtLauncher();
    this.stage = path.join(STAGE, serverId);
    this.sockets = new SocketOwners({ log: opts.log });
  }

  static async create(opts: GuestHostOptions): Promise<GuestHost> {
    const missing = ['unshare', 'setpriv', 'bwrap', 'mount'].filter((c) => !onPath(c));
    if (missing.length) throw unavailable(`${missing.join(', ')} not found`, 'apt-get install bubblewrap util-linux mount');
    const version = cgroupVersion();
    if (!version)
      throw unavailable(
        'the memory and pids cgroup controllers are not mounted under /sys/fs/cgroup',
        'boot with cgroups enabled (cgroup v1 memory/pids/cpu, or v2)',
      );
    if (!fs.readFileSync('/proc/filesystems', 'utf8').includes('overlay'))
      throw unavailable('the kernel has no overlayfs', 'modprobe overlay');
    checkPath(path.resolve(opts.home), 'SLIPWAY_HOME');
    const home = createHash('sha256').update(path.resolve(opts.home)).digest('hex').slice(0, 10);
    const host = new GuestHost(opts, new CgroupTree(version, `slipway-${home}`), home);
    fs.mkdirSync(host.stage, { recursive: true, mode: 0o755 });
    // Guests' users pass through both, whatever the daemon's umask.
    for (const dir of [STAGE, host.stage]) fs.chmodSync(dir, 0o755);
    fs.mkdirSync(host.scratch, { recursive: true, mode: 0o700 });
    await host.reapLeftovers();
    await host.smokeTest();
    return host;
  }

  /** Kills what guests of a dead daemon left running (setsid children included: they stay in the cgroup) and clears their scratch. */
  async reapLeftovers(): Promise<number> {
    let reaped = 0;
    for (const group of this.cgroups.leftovers()) {
      if (group.pids().length) reaped++;
      await group.killAll();
      group.remove();
    }
    for (const dir of [this.scratch, this.stage]) {
      for (const name of fs.readdirSync(dir)) fs.rmSync(path.join(dir, name), { recursive: true, force: true });
    }
    if (reaped) this.opts.log?.(`ended ${reaped} guest(s) left running by a previous run of the daemon`);
    return reaped;
  }

  /** Prepares a guest; the caller spawns `guest.launch` (detached) and calls `destroy` once it exited. */
  open(run: GuestRun): Guest {
    const name = run.name.replace(/[^A-Za-z0-9_.-]/g, '_');
    const cgroup = this.cgroups.create(name, run.limits);
    const oomBase = cgroup.oomKills();
    const scratch = path.join(this.scratch, name);
    const stage = path.join(this.stage, `${name}.${++this.opened}`);
    fs.rmSync(scratch, { recursive: true, force: true });
    const mounts: GuestMount[] = [];
    if (run.app)
      mounts.push(
        run.app.ephemeral
          ? { kind: 'overlay', lower: run.app.dir, target: GUEST_APP }
          : { kind: 'bind', source: run.app.dir, target: GUEST_APP, writable: true },
      );
    if (run.dataDir) {
      mounts.push({ kind: 'bind', source: run.dataDir, target: GUEST_DATA, writable: true });
      // Releases link `data` to the host path; the link then resolves inside too.
      mounts.push({ kind: 'bind', source: run.dataDir, target: run.dataDir, writable: true });
    }
    for (const b of run.binds ?? []) mounts.push({ kind: 'bind', source: b.path, target: b.target ?? b.path, writable: b.writable });
    const ca = this.opts.extraCaBundle;
    if (ca && !/^\/(usr|etc)\//.test(ca) && fs.existsSync(ca)) mounts.push({ kind: 'bind', source: ca, target: ca, writable: false });
    mounts.push(...this.identityMounts(scratch, run.user));

    const launch = prepareLaunch(
      {
        user: run.user,
        mounts,
        cwd: run.cwd ?? GUEST_APP,
        env: guestEnv(run),
        argv: run.argv,
        hostname: name.slice(0, 63),
        tty: run.tty,
        asInit: run.asInit,
      },
      { stage, scratch, cgroupProcs: cgroup.procsFiles },
      this.launcher,
    );
    let destroyed: Promise<void> | undefined;
    const entry = { run, cgroup };
    this.open_.set(name, entry);
    return {
      launch,
      cgroup,
      signalApp: (signal) => signalApp(cgroup, signal),
      memoryKilled: () => cgroup.oomKills() > oomBase,
      destroy: () =>
        (destroyed ??= (async () => {
          if (this.open_.get(name) === entry) this.open_.delete(name);
          await cgroup.killAll();
          cgroup.remove();
          await Promise.all([scratch, stage].map((d) => fs.promises.rm(d, { recursive: true, force: true })));
        })()),
    };
  }

  /** The guest's /etc/passwd and /etc/group, naming its user `app` (see identity.ts), written to its scratch dir. */
  private identityMounts(scratch: string, user: GuestUser): GuestMount[] {
    this.systemIdentity ??= {
      passwd: fs.readFileSync('/etc/passwd', 'utf8'),
      group: fs.readFileSync('/etc/group', 'utf8'),
    };
    const files = guestIdentity(this.systemIdentity, user);
    fs.mkdirSync(scratch, { recursive: true, mode: 0o700 });
    return (['passwd', 'group'] as const).map((name) => {
      const source = path.join(scratch, name);
      fs.writeFileSync(source, files[name]);
      // Whatever the daemon's umask: the app's user must read them.
      fs.chmodSync(source, 0o644);
      return { kind: 'bind', source, target: `/etc/${name}`, writable: false };
    });
  }

  /**
   * The host command (argv and environment) that runs `argv` inside the
   * running guest `name`, as its app sees it: same /app (with its writes),
   * processes, limits. Undefined when that guest has no app process running.
   */
  join(name: string, argv: string[], env: Record<string, string>): { argv: string[]; env: Record<string, string> } | undefined {
    const entry = this.open_.get(name.replace(/[^A-Za-z0-9_.-]/g, '_'));
    if (!entry) return undefined;
    const pid = entry.cgroup.pids().find((p) => {
      const ns = nsPids(p);
      return ns !== undefined && ns.length >= 2 && ns[ns.length - 1] !== 1;
    });
    if (pid === undefined) return undefined;
    const cmd = joinCommand(pid, entry.run.user, entry.cgroup.procsFiles, argv);
    return { argv: cmd.argv, env: { ...guestEnv({ ...entry.run, env }), ...cmd.env } };
  }

  /** Launches `id -u` once as nobody: proves unshare, overlayfs, setpriv and unprivileged bwrap work here. */
  private async smokeTest(): Promise<void> {
    const dir = fs.mkdtempSync(path.join(this.scratch, '.probe-'));
    const guest = this.open({
      name: 'probe',
      user: { uid: 65534, gid: 65534 },
      limits: { memoryMb: 64, cpuShares: 1024, pids: 16 },
      app: { dir, ephemeral: true },
      env: {},
      argv: ['id', '-u'],
    });
    try {
      const run = await execa(guest.launch.command, guest.launch.args, {
        env: guest.launch.env,
        extendEnv: false,
        timeout: 20_000,
        reject: false,
      });
      if (run.failed)
        throw new Error(
          String(run.stderr || run.shortMessage)
            .trim()
            .split('\n')
            .pop(),
        );
      const out = run.stdout.trim();
      if (out !== '65534') throw new Error(`the probe ran as uid ${out}, not 65534`);
    } catch (err) {
      throw unavailable(
        `a test guest failed: ${(err as Error).message}`,
        'check that unprivileged user namespaces are enabled (sysctl kernel.unprivileged_userns_clone=1) and bubblewrap is installed',
      );
    } finally {
      await guest.destroy();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}

/**
 * The environment inside: the pipeline hands over host paths (HOME, the data
 * dir, the daemon's PATH); inside they are /app and /data, as in a container.
 */
function guestEnv(run: GuestRun): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(run.env)) {
    if (run.app && v === run.app.dir) env[k] = GUEST_APP;
    else if (run.dataDir && v === run.dataDir) env[k] = GUEST_DATA;
    else env[k] = v;
  }
  if (!env.PATH || env.PATH === process.env.PATH) env.PATH = GUEST_PATH;
  return env;
}

/**
 * Graceful signals go to the app, not to bwrap: its monitor would die and
 * take the guest down at once, and its pid 1 does not forward them. Both are
 * told apart by their pid namespace (NSpid): the monitor has none of its own,
 * the init is pid 1 in it.
 */
function signalApp(cgroup: Cgroup, signal: NodeJS.Signals): number {
  let sent = 0;
  for (const pid of cgroup.pids()) {
    const ns = nsPids(pid);
    if (!ns || ns.length < 2 || ns[ns.length - 1] === 1) continue;
    try {
      process.kill(pid, signal);
      sent++;
    } catch {
      /* exited meanwhile */
    }
  }
  return sent;
}

function nsPids(pid: number): number[] | undefined {
  try {
    const m = /^NSpid:\s+(.+)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? m[1]!.trim().split(/\s+/).map(Number) : undefined;
  } catch {
    return undefined;
  }
}

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '/usr/bin:/bin')
    .split(':')
    .concat(['/usr/sbin', '/sbin', '/usr/bin', '/bin'])
    .some((d) => {
      try {
        fs.accessSync(path.join(d, cmd), fs.constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
}

function unavailable(what: string, hint: string): SlipwayError {
  return new SlipwayError('guest_unavailable', `cannot isolate apps in guests: ${what}`, { status: 503, hint });
}
