import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';
import { SlipwayError } from '../errors.js';
import type { GuestUser, Limits } from '../runtime/driver.js';
import { overlayOptions, removeSlot } from './slots.js';

/** What a container may use when the pipeline names no limits: the same defaults as every guest. */
export { DEFAULT_LIMITS } from '../guest/users.js';
import { DEFAULT_LIMITS } from '../guest/users.js';

/** Stable per-app uids when the pipeline names none, far above the allocated range (70000…) so they never meet. */
const DERIVED_BASE = 1_000_000;
const DERIVED_SPAN = 1_000_000;

/**
 * The user an app's containers run as: the one the pipeline allocated for the
 * app, else (a server that allocates none yet) a uid derived from this
 * server's home and the app's name, so every guest of one app shares it and
 * other apps' differ. A server that is not root cannot hand files to another
 * uid: its guests run as its own user, which owns the release anyway. Never
 * root: a container's root is the host's root once anything leaks.
 */
export function guestUser(home: string, app: string, given?: GuestUser): GuestUser {
  const uid = process.getuid?.() ?? 0;
  const user = given ?? (uid === 0 ? derived(home, app) : { uid, gid: process.getgid?.() ?? uid });
  if (user.uid === 0 || user.gid === 0) {
    throw new SlipwayError('guest_root', `${app} would run as root in its containers`, {
      status: 500,
      hint: 'give the app its own unprivileged uid (apps get one from the server on creation)',
    });
  }
  return user;
}

function derived(home: string, app: string): GuestUser {
  const n = createHash('sha256').update(`${home}/${app}`).digest().readUInt32BE(0) % DERIVED_SPAN;
  return { uid: DERIVED_BASE + n, gid: DERIVED_BASE + n };
}

/** `User` and the HostConfig fields that confine a guest: no privileges to gain, no capabilities, its limits. */
export function confinement(user: GuestUser, limits: Limits = DEFAULT_LIMITS): { User: string; HostConfig: Docker.HostConfig } {
  const memory = limits.memoryMb * 1024 * 1024;
  return {
    User: `${user.uid}:${user.gid}`,
    HostConfig: {
      // A web server on a high port needs no capability at all.
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      PidsLimit: limits.pids,
      // Swap equal to memory: no swap, so the limit is the limit (an R15 kill, not a slow crawl).
      Memory: memory,
      MemorySwap: memory,
      CpuShares: limits.cpuShares,
    },
  };
}

/**
 * Hands files to the guest's user, so /app and /data are its own as a dyno's
 * are. Only entries owned by someone else are changed (links themselves,
 * never their targets), so a release already handed over costs one walk.
 */
export async function handOver(target: string, user: GuestUser, opts: { recursive: boolean; skip?: string[] }): Promise<void> {
  try {
    await hand(target, user, opts.recursive, opts.skip ?? []);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EPERM') throw err;
    throw new SlipwayError('guest_owner', `cannot hand ${target} to uid ${user.uid}: the server does not run as root`, {
      status: 500,
      hint: 'run `slipway server` as root so each app runs as its own user',
      cause: err,
    });
  }
}

async function hand(target: string, user: GuestUser, recursive: boolean, skip: string[]): Promise<void> {
  const st = await fsp.lstat(target);
  if (st.uid !== user.uid || st.gid !== user.gid) await fsp.lchown(target, user.uid, user.gid);
  if (!recursive || !st.isDirectory()) return;
  const entries = (await fsp.readdir(target)).filter((e) => !skip.includes(e));
  await Promise.all(entries.map((entry) => hand(path.join(target, entry), user, true, [])));
}

/**
 * An editable app's work tree holds the daemon's own git repository: its
 * config and hooks run as the server's user on the next push. It stays the
 * server's, and guests that could write the tree get it hidden.
 */
export const SERVER_OWNED = ['.git'];

/**
 * The release as a writable, ephemeral /app: an overlay volume whose lower
 * layer is the release dir (never written) and whose upper layer is a scratch
 * dir of this one container. The engine mounts it at each start, so the
 * container's writes survive its restarts but vanish with it, and never reach
 * the release, its archive or another instance.
 */
export async function appLayer(
  release: string,
  scratch: string,
  user: GuestUser,
  labels: Record<string, string>,
): Promise<Docker.MountSettings> {
  const o = overlayOptions(release, scratch);
  await fsp.rm(scratch, { recursive: true, force: true });
  await fsp.mkdir(path.join(scratch, 'upper'), { recursive: true, mode: 0o700 });
  await fsp.mkdir(path.join(scratch, 'work'), { mode: 0o700 });
  // The overlay's root takes the upper dir's owner: /app itself must be the app's to create files in.
  await handOver(path.join(scratch, 'upper'), user, { recursive: false });
  return {
    Type: 'volume',
    Target: '/app',
    Source: '',
    VolumeOptions: {
      NoCopy: true,
      Labels: labels,
      DriverConfig: {
        Name: 'local',
        Options: { type: 'overlay', device: 'overlay', o },
      },
    },
  };
}

/** What of the host goes with a container: its scratch dir, and a standby's /app mount point. */
export interface GuestDirs {
  scratch?: string;
  slot?: string;
}

/** The file in a scratch dir naming the container it belongs to (see removeGuest). */
const OWNER = 'owner';

/**
 * Records `containerId` as the owner of its scratch dir, right after the
 * container is created: only then will a removal that found the dir through
 * the container's labels remove it.
 */
export async function ownScratch(scratch: string, containerId: string): Promise<void> {
  await fsp.writeFile(path.join(scratch, OWNER), containerId, { mode: 0o600 });
}

/**
 * Removes a container with its anonymous /app volume, then its scratch dir
 * and, for a standby, its /app mount point on the host. `known`: the dirs
 * from the daemon's own state. Without it they are read from the container's
 * labels, which an image's own LABELs can set (on a Dockerfile build's
 * intermediate containers, say): they count only when the scratch dir, under
 * `scratchRoot`, names this very container as its owner.
 */
export async function removeGuest(docker: Docker, id: string, scratchRoot: string, known?: GuestDirs): Promise<void> {
  const dirs: GuestDirs =
    known ??
    (await docker
      .getContainer(id)
      .inspect()
      .then(
        (i) => ownedDirs(i.Id, i.Config.Labels ?? {}, scratchRoot, i.Name.replace(/^\//, '')),
        (): GuestDirs => ({}),
      ));
  try {
    await docker
      .getContainer(id)
      .remove({ force: true, v: true })
      .catch((err: { statusCode?: number }) => {
        if (err.statusCode !== 404) throw err;
      });
  } finally {
    // Unmounted before the scratch dir goes: removing it through the overlay would only whiteout the release's files.
    if (dirs.slot) await removeSlot(dirs.slot);
    const scratch = dirs.scratch;
    if (scratch && path.dirname(path.resolve(scratch)) === path.resolve(scratchRoot))
      await fsp.rm(scratch, { recursive: true, force: true });
  }
}

/**
 * The scratch dir and slot a container's labels name, if the scratch dir is
 * that container's own (see removeGuest): its owner file names the
 * container, or (a container made before owner files, whose scratch dir is
 * named after it) its name is the dir's. Nobody but the daemon names
 * containers, so a stranger's never passes.
 */
export async function ownedDirs(
  containerId: string,
  labels: Record<string, string>,
  scratchRoot: string,
  name?: string,
): Promise<GuestDirs> {
  const scratch = labels['slipway.scratch'];
  if (!scratch || path.dirname(path.resolve(scratch)) !== path.resolve(scratchRoot)) return {};
  const owner = await fsp.readFile(path.join(scratch, OWNER), 'utf8').catch(() => '');
  if (owner === containerId) return { scratch, slot: labels['slipway.slot'] || undefined };
  return owner === '' && name === path.basename(scratch) ? { scratch } : {};
}

/** A tmpfs can only cover a directory: a work tree's `.git` file (its repository lives apart) needs no cover. */
export function isDir(p: string): boolean {
  return fs.statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false;
}
