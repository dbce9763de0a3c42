import path from 'node:path';
import { crashPoint } from '../../crash-point.js';
import type { StageFn } from '../context.js';
import { writeReleaseArchive } from '../release-archive.js';

/**
 * Writes the release archive (the slug): the runnable release directory with
 * its Procfile and metadata at the root. A release made from an existing
 * archive (final mode, rollback, promotion) links that same archive instead of
 * re-packing it, so its sha256 is unchanged.
 */
export const bundle: StageFn = async (ctx) => {
  const from = ctx.source.kind === 'archive' ? { archive: ctx.source.archive, sha256: ctx.source.sha256 } : undefined;
  const info = await writeReleaseArchive({
    services: ctx.services,
    app: ctx.app,
    release: ctx.release!,
    releaseDir: ctx.releaseDir!,
    from,
    beforeRename: () => crashPoint('bundle:during'),
  });
  ctx.log.info(`Release archive ${path.basename(info.path).slice(0, 20)}… (${formatSize(info.size)}, sha256 ${info.sha256})`);
};

const formatSize = (n: number) => (n > 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MB` : `${(n / 1024).toFixed(1)} KB`);
