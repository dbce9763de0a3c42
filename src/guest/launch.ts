import fs from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../paths.js';
import type { GuestUser } from '../runtime/driver.js';

/**
 * How a guest is launched on the host (the process driver's sandbox), in three
 * steps, each the smallest tool that can do its part:
 *
 * 1. `unshare --mount --propagation private` runs PRELUDE (bash) as root in a mount
 *    namespace of its own. It joins the guest's cgroups first (so everything
 *    after, `setsid` children included, is counted, limited and killable),
 *    then mounts, with one `mount -a` over a table this module writes, what
 *    the guest will see onto its staging dir: the release as an overlay (a
 *    writable, ephemeral /app: writes land in a scratch upper dir, never in
 *    the release), and bind mounts of the data dir and other host paths. Root
 *    does these mounts, so the guest never needs to traverse `$SLIPWAY_HOME`;
 *    on the host the staging dir stays a set of empty mount points.
 * 2. `setpriv` drops to the app's uid/gid, clears supplementary groups and
 *    every capability, and sets no_new_privs.
 * 3. Unprivileged `bwrap` builds the guest's root from the host's /usr and
 *    /etc (read-only), the staged mounts, a private /tmp, /dev and /proc, in
 *    new pid/ipc/uts namespaces. Nothing else of the host is in it.
 *
 * Every program started costs a few ms (tens on a busy host), and a guest
 * starts on every deploy, so the chain is kept to unshare → bash → mount →
 * setpriv → bwrap: one `mount` for all mounts, mount points made here.
 *
 * bwrap reads its options from fd 3, so the app's environment (secrets)
 * never shows in the host's `ps`: the prelude reads the options file into
 * memory, empties it (bash's own redirection: no program to start, and no
 * secret stays on disk while the guest runs) and feeds them to bwrap through
 * a pipe. They never travel as environment either: root's prelude and tools
 * must not see the app's variables (LD_PRELOAD, BASH_ENV).
 *
 * The prelude is a fixed script: paths arrive as arguments, never spliced in.
 * Where guest-launch.c was built (GUEST_LAUNCHER), that one program does steps
 * 1 and 2 instead of unshare, bash, mount and setpriv, with the same options.
 */
export const PRELUDE = `set -eu
args=$1; mounts=$2; shift 2
# Only stdio reaches the guest: any other descriptor the daemon inherited stays out.
for p in /proc/$$/fd/*; do n=\${p##*/}; case $n in 0|1|2) ;; *) eval "exec $n>&-" 2>/dev/null || true ;; esac; done
for f in $SLIPWAY_GUEST_CGROUPS; do echo $$ > "$f"; done
# bwrap's options hold the app's environment: read into memory and emptied on disk before anything else runs.
mapfile -d '' opts < "$args"
: > "$args"
if [ -s "$mounts" ]; then mount --all --fstab "$mounts"; fi
exec 3< <(printf '%s\\0' "\${opts[@]}")
exec "$@"`;

/**
 * Joins a running guest (`enter APP web.1`): into its cgroup, then, as root,
 * into its mount, pid, ipc and uts namespaces and its root, then down to the
 * app's user with no capabilities. Its user namespace is not entered: root
 * cannot drop into it through setns (bwrap nests it), and the joined process
 * needs nothing from it.
 */
export const JOIN_PRELUDE = `set -eu
for f in $SLIPWAY_GUEST_CGROUPS; do echo $$ > "$f"; done
unset SLIPWAY_GUEST_CGROUPS
for p in /proc/$$/fd/*; do n=\${p##*/}; case $n in 0|1|2) ;; *) eval "exec $n>&-" 2>/dev/null || true ;; esac; done
exec "$@"`;

/** The command that runs `argv` inside the guest whose app process is `pid`, with `env` as its environment. */
export function joinCommand(
  pid: number,
  user: GuestUser,
  cgroupProcs: string[],
  argv: string[],
): { argv: string[]; env: Record<string, string> } {
  return {
    // One line per program of the chain.
    // prettier-ignore
    argv: [
      // --norc: Debian's bash reads ~/.bashrc when its stdin is a socket (as from sshd), and node's pipes are sockets.
      'bash', '--norc', '--noprofile', '-c', JOIN_PRELUDE, 'slipway-join',
      'nsenter', '-t', String(pid), '-m', '-p', '-i', '-u', '-r', '-w', '--',
      ...dropTo(user), '--',
      ...argv,
    ],
    env: { SLIPWAY_GUEST_CGROUPS: cgroupProcs.map((f) => checkPath(f, 'cgroup')).join(' ') },
  };
}

/** `setpriv` down to the app's user: its uid and gid only, no supplementary groups, no capabilities, no_new_privs. */
function dropTo({ uid, gid }: GuestUser): string[] {
  return ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--no-new-privs', '--inh-caps=-all', '--bounding-set=-all'];
}

/** What the guest sees at one path. */
export type GuestMount =
  /** The release, writable but ephemeral: an overlay whose upper layer is scratch. */
  | { kind: 'overlay'; lower: string; target: string }
  /** A host directory or file at `target`; `writable` as the app's user permits. */
  | { kind: 'bind'; source: string; target: string; writable: boolean };

export interface LaunchSpec {
  user: GuestUser;
  mounts: GuestMount[];
  /** Working directory inside the guest. */
  cwd: string;
  /** The guest's whole environment. */
  env: Record<string, string>;
  argv: string[];
  hostname: string;
  /** A terminal is attached (`enter`, `run` with ssh -t): the guest must keep it as its controlling tty. */
  tty?: boolean;
  /**
   * The command is the guest's pid 1 (the build agent, which reaps and ends
   * what each step leaves): bwrap puts no init of its own there, which
   * would hold the command's stdio where the guest's processes can open it.
   */
  asInit?: boolean;
}

export interface LaunchPaths {
  /**
   * This guest's staging dir on the host, under a path every user may
   * traverse: its mount points are made here, and the prelude mounts onto
   * them in the guest's own namespace. Removed with the guest.
   */
  stage: string;
  /** This guest's scratch dir (root only): the options file, overlay upper/work dirs. */
  scratch: string;
  /** Files the prelude writes its pid to (see Cgroup.procsFiles). */
  cgroupProcs: string[];
}

export interface Launch {
  command: string;
  args: string[];
  /** The launcher's own environment (not the guest's). */
  env: Record<string, string>;
}

/** Host paths the mount ops pass through; overlayfs options split on these. */
const SAFE_PATH = /^\/[A-Za-z0-9_./@+-]*$/;

export function checkPath(p: string, what: string): string {
  if (!SAFE_PATH.test(p) || p.split('/').includes('..'))
    throw new Error(`${what} path ${JSON.stringify(p)} cannot be mounted into a guest (use letters, digits and _ . / @ + - only)`);
  return p;
}

/** The host's system dirs every guest sees read-only; /bin, /lib … are symlinks into /usr here. */
const SYSTEM = ['/usr', '/etc'];

/**
 * Writes the options file and returns the launcher command. The caller
 * spawns it (detached, so a signal to its group reaches the launcher), and
 * removes `paths.scratch` after the guest is gone.
 */
export function prepareLaunch(spec: LaunchSpec, paths: LaunchPaths, launcher: string | undefined): Launch {
  checkPath(paths.stage, 'staging');
  checkPath(paths.scratch, 'scratch');
  fs.mkdirSync(paths.scratch, { recursive: true, mode: 0o700 });
  fs.rmSync(paths.stage, { recursive: true, force: true });
  fs.mkdirSync(paths.stage, { recursive: true, mode: 0o755 });
  // The guest's user passes through it, whatever the daemon's umask.
  fs.chmodSync(paths.stage, 0o755);
  const ops: MountOp[] = [];
  // prettier-ignore
  const bwrap: string[] = [
    '--unshare-user',
    '--disable-userns',
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--unshare-cgroup-try',
    '--die-with-parent',
    '--hostname',
    spec.hostname,
    // Without a terminal, a new session keeps the guest from pushing keys into the caller's (TIOCSTI).
    ...(spec.tty ? [] : ['--new-session']),
    ...(spec.asInit ? ['--as-pid-1'] : []),
  ];
  for (const dir of SYSTEM) bwrap.push('--ro-bind', dir, dir);
  for (const link of ['bin', 'sbin', 'lib', 'lib64', 'lib32', 'libx32']) {
    const target = readLink(`/${link}`);
    if (target) bwrap.push('--symlink', target, `/${link}`);
  }
  // Before the mounts: a bind under /tmp (a build dir there) must not be hidden by the private /tmp.
  bwrap.push('--perms', '1777', '--tmpfs', '/tmp', '--dev', '/dev', '--perms', '1777', '--tmpfs', '/dev/shm', '--proc', '/proc');
  // Terminals come from the host's pty relay, in the host's devpts: show it, so `tty` names them, also in a
  // guest `enter` joins later. Other users' terminals there stay theirs (0620, group tty).
  bwrap.push('--dev-bind', '/dev/pts', '/dev/pts');
  spec.mounts.forEach((m, i) => {
    const point = path.join(paths.stage, `m${i}`);
    checkPath(m.target, 'guest');
    if (m.kind === 'overlay') {
      const upper = path.join(paths.scratch, `m${i}.upper`);
      const work = path.join(paths.scratch, `m${i}.work`);
      for (const d of [upper, work, point]) fs.mkdirSync(d, { recursive: true });
      // The upper layer's root is /app's root: the app's user owns it, so it can create files at the top.
      fs.chownSync(upper, spec.user.uid, spec.user.gid);
      fs.chmodSync(upper, 0o755);
      ops.push({ kind: 'overlay', lower: checkPath(m.lower, 'release'), upper, work, point });
      bwrap.push('--bind', point, m.target);
    } else {
      if (fs.statSync(m.source).isFile()) fs.writeFileSync(point, '');
      else fs.mkdirSync(point);
      ops.push({ kind: 'bind', source: checkPath(m.source, 'host'), point });
      bwrap.push(m.writable ? '--bind' : '--ro-bind', point, m.target);
    }
  });
  bwrap.push('--chdir', spec.cwd, '--clearenv');
  for (const [k, v] of Object.entries(spec.env)) {
    if (k && !k.includes('=') && !k.includes('\0') && !v.includes('\0')) bwrap.push('--setenv', k, v);
  }
  const argsFile = path.join(paths.scratch, 'bwrap.args');
  fs.writeFileSync(argsFile, bwrap.map((a) => `${a}\0`).join(''), { mode: 0o600 });
  const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };
  const guest = ['bwrap', '--args', '3', '--', ...spec.argv];
  if (launcher) {
    return {
      command: launcher,
      // prettier-ignore
      args: [
        '--uid', String(spec.user.uid), '--gid', String(spec.user.gid), '--args', argsFile,
        ...paths.cgroupProcs.flatMap((f) => ['--cgroup', checkPath(f, 'cgroup')]),
        ...ops.flatMap((o) => (o.kind === 'overlay' ? ['--overlay', o.lower, o.upper, o.work, o.point] : ['--bind', o.source, o.point])),
        '--', ...guest,
      ],
      env,
    };
  }
  // Paths are checked above: no blanks or escapes, so each is one fstab field.
  const mountTable = path.join(paths.scratch, 'mounts');
  const table = ops.map((o) =>
    o.kind === 'overlay'
      ? `slipway-app ${o.point} overlay lowerdir=${o.lower},upperdir=${o.upper},workdir=${o.work},nosuid,nodev 0 0`
      : `${o.source} ${o.point} none bind 0 0`,
  );
  fs.writeFileSync(mountTable, table.map((l) => `${l}\n`).join(''), { mode: 0o600 });

  return {
    command: 'unshare',
    // One line per program of the chain.
    // prettier-ignore
    args: [
      '--mount', '--propagation', 'private', '--',
      'bash', '--norc', '--noprofile', '-c', PRELUDE, 'slipway-guest', argsFile, mountTable,
      ...dropTo(spec.user),
      ...guest,
    ],
    env: { ...env, SLIPWAY_GUEST_CGROUPS: paths.cgroupProcs.map((f) => checkPath(f, 'cgroup')).join(' ') },
  };
}

/** A mount the launcher makes as root onto a staging point. */
type MountOp =
  { kind: 'overlay'; lower: string; upper: string; work: string; point: string } | { kind: 'bind'; source: string; point: string };

/**
 * The compiled launcher (guest-launch.c, built with the package when a C
 * compiler is there): the steps of unshare → bash → mount → setpriv in one
 * program. Undefined when it was not built: the chain is used.
 */
export const GUEST_LAUNCHER = path.join(PACKAGE_ROOT, 'dist', 'guest', 'slipway-guest-launch');

export function builtLauncher(): string | undefined {
  return isExecutable(GUEST_LAUNCHER) ? GUEST_LAUNCHER : undefined;
}

/** A regular file this process may execute. */
export function isExecutable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function readLink(p: string): string | undefined {
  try {
    return fs.readlinkSync(p);
  } catch {
    return undefined;
  }
}
