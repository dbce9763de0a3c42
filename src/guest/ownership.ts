import fs from 'node:fs/promises';
import path from 'node:path';
import type { GuestUser } from '../runtime/driver.js';

/**
 * Gives a tree to the app's user (lchown: links are never followed out of
 * it). The top directory is changed last, so "the top is theirs" means the
 * whole tree is, even after a crash half-way: `ifNeeded` trusts that.
 */
export async function ownTree(dir: string, user: GuestUser, opts: { ifNeeded?: boolean } = {}): Promise<void> {
  const top = await fs.lstat(dir).catch(() => undefined);
  if (!top) return;
  if (opts.ifNeeded && top.uid === user.uid && top.gid === user.gid) return;
  if (top.isDirectory()) await walk(dir, user);
  await fs.lchown(dir, user.uid, user.gid);
}

async function walk(dir: string, user: GuestUser): Promise<void> {
  const entries = await fs.readdir(dir, { withFileTypes: true });
  // Bounded fan-out: a node_modules tree has tens of thousands of entries.
  for (let i = 0; i < entries.length; i += 64) {
    await Promise.all(
      entries.slice(i, i + 64).map(async (e) => {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) await walk(p, user);
        await fs.lchown(p, user.uid, user.gid);
      }),
    );
  }
}
