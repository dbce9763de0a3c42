import fs from 'node:fs';
import { describe } from '../errors.js';
import { readMetadata, unpackArchive } from '../releases/archive.js';
import type { Services } from '../pipeline/context.js';
import { processEnv, routeTo, startFormation, stopInstances, waitHealthy } from '../pipeline/formation.js';

/**
 * What a restarted daemon owes its apps: deploys it was running when it died
 * are marked failed (their release never went live), and every app's live
 * release is started again and routed.
 */
export async function recoverJobs(services: Services, log: (m: string) => void): Promise<void> {
  const { store } = services;
  for (const job of store.jobs.unfinished()) {
    const reason = job.status === 'running' ? 'interrupted: the Slipway server stopped during this deploy' : 'interrupted: the Slipway server stopped before this deploy started';
    store.jobs.finish(job.id, 'failed', reason);
    if (job.releaseVersion != null) {
      const release = store.releases.get(job.appId, job.releaseVersion);
      if (release?.status === 'pending') store.releases.finish(release.id, 'failed', reason);
    }
    fs.appendFileSync(job.logPath, ` !     ${reason}\n`);
    log(`job ${job.id} (${job.appName}) marked failed: ${reason}`);
  }
}

export async function restoreApps(services: Services, log: (m: string) => void): Promise<void> {
  const { store, layout } = services;
  await Promise.allSettled(
    store.apps.list().map(async (app) => {
      if (app.currentRelease == null) return;
      const release = store.releases.get(app.id, app.currentRelease);
      if (!release) return;
      const dir = layout.release(app.name, release.version);
      try {
        if (!fs.existsSync(dir)) {
          if (!release.archivePath) throw new Error(`v${release.version} has neither a directory nor an archive`);
          await unpackArchive({ archive: release.archivePath, dest: dir });
          fs.symlinkSync(layout.data(app.name), `${dir}/data`);
        }
        const meta = await readMetadata(dir);
        const env = processEnv(services, app.name, release.version, { ...(meta?.configVars ?? {}), ...release.config }, dir);
        const instances = await startFormation({ services, app, version: release.version, releaseDir: dir, processTypes: release.processTypes, env });
        try {
          await waitHealthy(services, app.name, instances, { timeoutMs: services.settings.healthTimeoutMs, signal: new AbortController().signal });
        } catch (err) {
          await stopInstances(services, instances);
          throw err;
        }
        await routeTo(services, app, instances);
        log(`${app.name}: v${release.version} is up`);
      } catch (err) {
        log(`${app.name}: could not bring v${release.version} back up: ${describe(err)}`);
      }
    }),
  );
}
