import fsp from 'node:fs/promises';
import type { Store } from '../store/index.js';
import type { Layout } from '../store/layout.js';

export interface RotateOptions {
  store: Store;
  layout: Layout;
  appId: number;
  appName: string;
  /** How many succeeded releases keep their archive and directory. */
  keep: number;
  /** The release a deploy is finishing (still pending): it counts as succeeded. */
  deploying?: number;
  /** Called for each pruned release, e.g. so a driver can drop its images. */
  onPrune?: (version: number) => Promise<void>;
}

/**
 * Prunes old releases beyond `keep`, never the live one nor its predecessor
 * (the rollback target). The ledger rows stay, marked `pruned`: history is kept,
 * only the bytes go.
 */
export async function rotateReleases(opts: RotateOptions): Promise<number[]> {
  const app = opts.store.apps.byId(opts.appId);
  if (!app) return [];
  const succeeded = opts.store.releases.list(opts.appId).filter((r) => r.status === 'succeeded' || r.id === opts.deploying);
  const live = app.currentRelease;
  const protectedVersions = new Set<number>();
  if (live != null) {
    protectedVersions.add(live);
    const prev = succeeded.find((r) => r.version < live);
    if (prev) protectedVersions.add(prev.version);
  }
  const pruned: number[] = [];
  for (const r of succeeded.slice(Math.max(opts.keep, 2))) {
    if (protectedVersions.has(r.version)) continue;
    if (r.archivePath) await fsp.rm(r.archivePath, { force: true });
    await fsp.rm(opts.layout.release(opts.appName, r.version), { recursive: true, force: true });
    await opts.onPrune?.(r.version);
    opts.store.releases.markPruned(r.id);
    pruned.push(r.version);
  }
  return pruned;
}
