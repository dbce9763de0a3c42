import { execFile } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { SlipwayError } from '../errors.js';

const run = promisify(execFile);

/**
 * Where standby containers' /app mount points live on the host. A container
 * only sees a mount made on the host after it started ("rslave" propagation)
 * if the bind's source sits on a shared mount: the host's / often is not, so
 * each server gets a small tmpfs of its own here, made shared. It is under
 * /run, not SLIPWAY_HOME: a mount inside the data dir would pin it (a data
 * dir that cannot be removed), and a reboot, which ends every mount, also
 * empties /run.
 */
export const SLOTS_BASE = '/run/slipway-slots';

/** A slot path as this module makes them: `SLOTS_BASE/<home>/<container>`, nothing else is ever unmounted. */
export function isSlot(p: string): boolean {
  const resolved = path.resolve(p);
  return path.dirname(path.dirname(resolved)) === SLOTS_BASE && !resolved.includes('\0');
}

/** The shared tmpfs for one server's slots, mounted once (it outlives the daemon, like the containers using it). */
export async function ensureSlots(home: string): Promise<string> {
  const root = path.join(SLOTS_BASE, home);
  await fsp.mkdir(root, { recursive: true, mode: 0o700 });
  if (!mountedAt(root)) await run('mount', ['-t', 'tmpfs', '-o', 'mode=0700,size=1m,nosuid,nodev,noexec', 'slipway-slots', root]);
  // Every time: a start that died between the two would otherwise leave it private for good.
  await run('mount', ['--make-shared', root]);
  return root;
}

/** Unmounts the server's slot tmpfs if nothing is mounted in it any more (the daemon stops with no live standby). */
export async function releaseSlots(home: string): Promise<void> {
  const root = path.join(SLOTS_BASE, home);
  if (!mountedAt(root)) return;
  // Busy (a live instance's overlay is mounted in it): it stays for the next start.
  await run('umount', [root]).then(
    () => fsp.rmdir(root).catch(() => undefined),
    () => undefined,
  );
}

/** Overlay options are comma- and colon-separated: a path holding either cannot be named in them. */
const OVERLAY_SAFE = /^[^,:=\\]+$/;

/**
 * The options of the overlay that is a guest's /app: `lower` (the release,
 * never written) under `scratch`'s upper and work dirs. The engine's volume
 * (appLayer) and a standby's host mount use the same.
 */
export function overlayOptions(lower: string, scratch: string): string {
  for (const p of [lower, scratch]) {
    if (!OVERLAY_SAFE.test(p))
      throw new SlipwayError('guest_path', `${p} cannot be mounted as an overlay (it holds "," ":" "=" or "\\")`, {
        status: 500,
        hint: 'move SLIPWAY_HOME to a path without those characters',
      });
  }
  return `lowerdir=${lower},upperdir=${scratch}/upper,workdir=${scratch}/work`;
}

/** Mounts the release as the writable, ephemeral /app of a standby: the same overlay as appLayer's, made on the host. */
export async function mountOverlay(slot: string, lower: string, scratch: string): Promise<void> {
  if (!isSlot(slot)) throw new Error(`${slot} is not a standby slot`);
  await run('mount', ['-t', 'overlay', 'overlay', '-o', overlayOptions(lower, scratch), slot]);
}

/** Unmounts a slot (lazily if something still holds it) and removes its mount point. */
export async function removeSlot(slot: string): Promise<void> {
  if (!isSlot(slot)) return;
  if (mountedAt(slot)) await run('umount', [slot]).catch(() => run('umount', ['-l', slot]));
  await fsp.rmdir(slot).catch(() => undefined);
}

/** Whether something is mounted exactly at `dir` (paths here never hold the characters mountinfo escapes). */
export function mountedAt(dir: string): boolean {
  const target = path.resolve(dir);
  const lines = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
  return lines.some((line) => line.split(' ')[4] === target);
}
