import fsp from 'node:fs/promises';
import path from 'node:path';
import { DEFAULT_EGRESS, shownUrl } from '../../egress/index.js';
import { fetchArchive } from '../../releases/fetch.js';
import { DeployError } from '../../errors.js';
import { readMetadata, unpackArchive } from '../../releases/archive.js';
import type { StageFn } from '../context.js';
import { imageForArchive } from '../release-image.js';
import { settingsOf } from '../../apps/settings.js';

/**
 * The RFC's release-sync procedure: a release archive made elsewhere (a
 * staging build, an earlier release, an upload) is verified and unpacked into
 * the deploy dir, replacing whatever was there.
 */
export const releaseSync: StageFn = async (ctx) => {
  if (ctx.source.kind === 'urls') {
    // The RFC's "fetch each archive of release_artifacts_urls": the first is the project archive.
    const url = ctx.source.urls[0]!;
    ctx.log.info(`Fetching ${shownUrl(url.replace(/#.*$/, ''))}`);
    const fetched = await fetchArchive({
      url,
      destDir: path.join(ctx.services.layout.app(ctx.app.name), 'uploads'),
      egress: ctx.services.settings.egress ?? DEFAULT_EGRESS,
      setting: 'artifact_urls',
      // A file URL is followed only as the admin set it (see egress/trust.ts).
      trusted: settingsOf(ctx.app).setByAdmin('artifact_urls') && settingsOf(ctx.app).get('artifact_urls').includes(url),
      signal: ctx.signal,
    });
    ctx.log.info(`Fetched ${fetched.size} bytes, sha256 ${fetched.sha256}`);
    ctx.source = { kind: 'archive', archive: fetched.file, sha256: fetched.sha256, description: `release archive from ${url}` };
  }
  const src = ctx.source;
  if (src.kind !== 'archive') {
    throw new DeployError('this app deploys release archives and never builds, but no archive was given', {
      app: ctx.app.name,
      hint: 'promote a staging release or upload an artifact',
    });
  }
  await fsp.rm(ctx.workDir, { recursive: true, force: true });
  await unpackArchive({ archive: src.archive, dest: ctx.workDir, sha256: src.sha256 });
  const meta = await readMetadata(ctx.workDir);
  if (meta) {
    ctx.buildpacks = meta.buildpacks;
    ctx.processTypes = meta.processTypes;
    ctx.configVars = meta.configVars;
  }
  ctx.log.info(
    `Unpacked ${src.sha256 ? `archive sha256 ${src.sha256.slice(0, 12)}…` : 'archive'}${meta ? ` (built as ${meta.app} v${meta.version})` : ''}`,
  );
  if (meta?.image) {
    ctx.image = await imageForArchive(ctx, meta.image);
    ctx.services.store.releases.update(ctx.release!.id, { image: ctx.image });
  }
};
