import fs from 'node:fs';
import { describe } from '../errors.js';
import type { Services } from '../pipeline/context.js';
import { readAppJson } from '../pipeline/app-json.js';
import { routeTo, startFormation, stopInstances } from '../pipeline/formation.js';
import { awaitHealthy } from '../pipeline/health-checks.js';
import { releaseRuntime } from '../pipeline/release-runtime.js';

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
    // A half-built tree or half-placed release is of no use to anyone now.
    fs.rmSync(services.layout.build(job.appName), { recursive: true, force: true });
    if (job.releaseVersion != null && store.apps.byId(job.appId)?.currentRelease !== job.releaseVersion) {
      fs.rmSync(services.layout.release(job.appName, job.releaseVersion), { recursive: true, force: true });
    }
    log(`job ${job.id} (${job.appName}) marked failed: ${reason}`);
  }
}

export async function restoreApps(services: Services, log: (m: string) => void): Promise<void> {
  const { store } = services;
  await Promise.allSettled(
    store.apps.list().map(async (app) => {
      if (app.currentRelease == null || app.settings.stopped) return;
      try {
        const rt = await releaseRuntime(services, app, app.currentRelease);
        const instances = await startFormation({ services, app, version: rt.release.version, releaseDir: rt.dir, processTypes: rt.processTypes, env: rt.env, image: rt.image });
        try {
          await awaitHealthy(services, app.name, instances, { timeoutMs: services.settings.healthTimeoutMs, signal: new AbortController().signal, checks: readAppJson(rt.dir).healthchecks.web });
        } catch (err) {
          await stopInstances(services, instances);
          throw err;
        }
        await routeTo(services, app, instances);
        log(`${app.name}: v${rt.release.version} is up`);
      } catch (err) {
        log(`${app.name}: could not bring v${app.currentRelease} back up: ${describe(err)}`);
      }
    }),
  );
}
