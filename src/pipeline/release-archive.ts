import fsp from 'node:fs/promises';
import path from 'node:path';
import { createArchive, sha256File, type ArchiveInfo } from '../releases/archive.js';
import type { Release } from '../store/index.js';
import type { Services } from './context.js';

export interface ReleaseArchiveOptions {
  services: Pick<Services, 'store' | 'layout'>;
  app: { id: number; name: string };
  release: Pick<Release, 'id' | 'version'>;
  /** The release directory, packed when there is no archive to reuse. */
  releaseDir: string;
  /** The archive the release was made from (final mode, rollback, promotion), linked instead of re-packed so its sha256 is unchanged. */
  from?: { archive: string; sha256?: string };
  /** See CreateArchiveOptions.beforeRename. */
  beforeRename?: () => void;
}

/** Steps that ran for a release ran for its archive: a later deploy of that archive must not run them again. */
const RUN_ONCE_STEPS = ['predeploy', 'release-phase', 'upgrade'];

/**
 * Gives a release its archive (the slug) and records it: the bundle stage's
 * work, and the restarted daemon's for a release that went live just before
 * the crash.
 */
export async function writeReleaseArchive(opts: ReleaseArchiveOptions): Promise<ArchiveInfo> {
  const { store, layout } = opts.services;
  const { version } = opts.release;
  const destDir = layout.archives(opts.app.name);
  let info: ArchiveInfo;
  if (opts.from) {
    const sha256 = opts.from.sha256 ?? (await sha256File(opts.from.archive));
    const file = path.join(destDir, `v${version}-${sha256}.tar.gz`);
    await fsp.mkdir(destDir, { recursive: true });
    await fsp.rm(file, { force: true });
    // A hard link shares the bytes; across file systems (an upload dir elsewhere) copy instead.
    await fsp.link(opts.from.archive, file).catch(() => fsp.copyFile(opts.from!.archive, file));
    info = { path: file, sha256, size: (await fsp.stat(file)).size };
  } else {
    info = await createArchive({ dir: opts.releaseDir, destDir, version, exclude: ['data'], beforeRename: opts.beforeRename });
  }
  store.releases.update(opts.release.id, { archivePath: info.path, sha256: info.sha256, size: info.size });
  for (const step of RUN_ONCE_STEPS) {
    const ran = [`${step}@v${version}`, ...(opts.from?.sha256 ? [`${step}@sha256:${opts.from.sha256}`] : [])].some((key) =>
      store.releases.stepDone(opts.app.id, key),
    );
    if (ran) store.releases.markStep(opts.app.id, `${step}@sha256:${info.sha256}`);
  }
  return info;
}
