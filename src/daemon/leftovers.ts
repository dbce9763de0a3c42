import fs from 'node:fs';
import path from 'node:path';
import type { Layout } from '../store/layout.js';

/**
 * Scratch that exists only while a deploy runs, found in every app's folder
 * at start (when none can be running): the ENV_DIR with the config in plain
 * text, the build dir and the buildpacks' scratch, uploads and fetched
 * artifacts, half-written archives and snapshots, a half-made `current` link.
 * Call it after recoverJobs, which may still take a live release's archive
 * from an upload.
 */
export function removeLeftovers(layout: Layout, log: (m: string) => void): void {
  let apps: string[];
  try {
    apps = fs.readdirSync(layout.appsDir);
  } catch {
    return;
  }
  for (const app of apps) {
    if (!fs.statSync(layout.app(app), { throwIfNoEntry: false })?.isDirectory()) continue;
    const removed: string[] = [];
    for (const dir of [layout.env(app), layout.build(app), layout.scratch(app), layout.uploads(app)]) {
      if (remove(dir)) removed.push(path.basename(dir));
    }
    const partial = (dir: string, test: (name: string) => boolean) => {
      for (const name of entries(dir)) if (test(name) && remove(path.join(dir, name))) removed.push(`${path.basename(dir)}/${name}`);
    };
    // createArchive's `.vN-….tmp`, the archive stage's `.snap-…` staging dir and its `.snap-….tar.gz`, pointCurrent's `current.PID.tmp`.
    partial(layout.archives(app), (n) => n.startsWith('.'));
    partial(layout.backups(app), (n) => n.startsWith('.'));
    partial(layout.releases(app), (n) => n.startsWith('current.') && n.endsWith('.tmp'));
    if (removed.length) log(`${app}: removed what an interrupted deploy left: ${removed.join(', ')}`);
  }
}

function entries(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/** Removes `p`; true when there was something in it worth a line in the log (an empty folder is not). */
function remove(p: string): boolean {
  const stat = fs.lstatSync(p, { throwIfNoEntry: false });
  if (!stat) return false;
  const worthSaying = !stat.isDirectory() || entries(p).length > 0;
  fs.rmSync(p, { recursive: true, force: true });
  return worthSaying;
}
