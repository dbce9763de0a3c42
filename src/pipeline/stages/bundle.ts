import fsp from 'node:fs/promises';
import path from 'node:path';
import { createArchive, sha256File } from '../../releases/archive.js';
import type { StageFn } from '../context.js';
import { runOnceKey } from '../repo-hooks.js';

/**
 * Writes the release archive (the slug): the runnable release directory with
 * its Procfile and metadata at the root. A release made from an existing
 * archive (final mode, rollback, promotion) links that same archive instead of
 * re-packing it, so its sha256 is unchanged.
 */
export const bundle: StageFn = async (ctx) => {
  const { layout, store } = ctx.services;
  const version = ctx.release!.version;
  const destDir = layout.archives(ctx.app.name);
  let info;
  if (ctx.source.kind === 'archive') {
    const source = ctx.source.archive;
    const sha256 = ctx.source.sha256 ?? (await sha256File(source));
    const file = path.join(destDir, `v${version}-${sha256}.tar.gz`);
    await fsp.mkdir(destDir, { recursive: true });
    // A hard link shares the bytes; across file systems (an upload dir elsewhere) copy instead.
    await fsp.link(source, file).catch(() => fsp.copyFile(source, file));
    info = { path: file, sha256, size: (await fsp.stat(file)).size };
  } else {
    info = await createArchive({ dir: ctx.releaseDir!, destDir, version, exclude: ['data'] });
  }
  store.releases.update(ctx.release!.id, { archivePath: info.path, sha256: info.sha256, size: info.size });
  // Steps that ran for this build ran for its archive: a rollback to it must not run them again.
  for (const step of ['predeploy', 'release-phase', 'upgrade']) {
    if (store.releases.stepDone(ctx.app.id, runOnceKey(ctx, step))) store.releases.markStep(ctx.app.id, `${step}@sha256:${info.sha256}`);
  }
  ctx.log.info(`Release archive ${path.basename(info.path).slice(0, 20)}… (${formatSize(info.size)}, sha256 ${info.sha256})`);
};

const formatSize = (n: number) => (n > 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MB` : `${(n / 1024).toFixed(1)} KB`);
