import fs from 'node:fs';
import { readMetadata, unpackArchive } from '../releases/archive.js';
import { SlipwayError } from '../errors.js';
import type { App, Release } from '../store/index.js';
import type { Services } from './context.js';
import { processEnv, type RunnableRelease } from './formation.js';

/** What it takes to run processes of an existing release: its directory, env and process types. */
export interface ReleaseRuntime extends RunnableRelease {
  release: Release;
}

/**
 * Loads a release that already went live once, unpacking its archive again if
 * its directory is gone (after a crash, or a host move of the data dir).
 */
export async function releaseRuntime(services: Services, app: App, version: number): Promise<ReleaseRuntime> {
  const { store, layout } = services;
  const release = store.releases.get(app.id, version);
  if (!release) throw new SlipwayError('release_missing', `${app.name} has no release v${version}`, { status: 404 });
  const dir = layout.release(app.name, version);
  if (!fs.existsSync(dir)) {
    if (!release.archivePath)
      throw new SlipwayError('release_missing', `v${version} of ${app.name} has neither a directory nor an archive`, { status: 500 });
    await unpackArchive({ archive: release.archivePath, dest: dir });
    fs.symlinkSync(layout.data(app.name), `${dir}/data`);
  }
  const meta = await readMetadata(dir);
  return {
    release,
    version,
    dir,
    env: processEnv(services, app.name, version, { ...(meta?.configVars ?? {}), ...release.config }, dir),
    processTypes: release.processTypes,
    image: release.image ?? undefined,
  };
}

/** The live release's runtime, or a clear error when nothing was deployed yet. */
export async function liveRuntime(services: Services, app: App): Promise<ReleaseRuntime> {
  if (app.currentRelease == null) {
    throw new SlipwayError('no_release', `${app.name} has no live release yet`, {
      status: 409,
      hint: `push to deploy it: git push paas ${app.deployBranch}`,
    });
  }
  return releaseRuntime(services, app, app.currentRelease);
}
