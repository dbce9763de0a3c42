import fs from 'node:fs';
import path from 'node:path';
import { describe } from '../errors.js';
import type { DeploySource, Services } from '../pipeline/context.js';
import { bringUp } from '../pipeline/bring-up.js';
import { forwardStages, MODES, WORKSPACES } from '../pipeline/modes.js';
import { writeReleaseArchive } from '../pipeline/release-archive.js';
import { releaseRuntime } from '../pipeline/release-runtime.js';
import { pointCurrent } from '../pipeline/stages/activate.js';
import type { App, Job, Mode, Release } from '../store/index.js';
import { settingsOf } from '../apps/settings.js';

/**
 * What a restarted daemon owes the deploys it was running when it died. The
 * store's live release is the truth (activate records it before it moves the
 * router): a deploy whose release had become live keeps it live and gets its
 * archive; any other is marked failed and its half-placed release removed.
 */
export async function recoverJobs(services: Services, log: (m: string) => void): Promise<void> {
  const { store } = services;
  for (const job of store.jobs.unfinished()) {
    const app = store.apps.byId(job.appId);
    const release = job.releaseVersion == null ? undefined : store.releases.get(job.appId, job.releaseVersion);
    if (app && release && app.currentRelease === release.version) {
      await keepLive(services, app, release, job, log);
      continue;
    }
    const reason =
      job.status === 'running'
        ? 'interrupted: the Slipway server stopped during this deploy'
        : 'interrupted: the Slipway server stopped before this deploy started';
    store.jobs.finish(job.id, 'failed', reason);
    if (release?.status === 'pending') store.releases.finish(release.id, 'failed', reason);
    fs.appendFileSync(job.logPath, ` !     ${reason}\n`);
    // A half-built tree or half-placed release is of no use to anyone now (an editable work tree stays: it is the app's code).
    fs.rmSync(services.layout.build(job.appName), { recursive: true, force: true });
    if (release) await WORKSPACES[modeOf(job)].discard(services.layout, job.appName, release.version);
    log(`job ${job.id} (${job.appName}) marked failed: ${reason}`);
  }
}

/**
 * Finishes what the dead daemon left of a release that had gone live: its
 * archive (re-made from its release directory when bundle had not finished,
 * so `config:set`, rollbacks and promotions have it), the `current` link,
 * and a config or rollback release's config becoming the app's. The job says
 * which stages did not run; it succeeded only if none was missed.
 */
async function keepLive(services: Services, app: App, release: Release, job: Job, log: (m: string) => void): Promise<void> {
  const { store, layout } = services;
  const mode = modeOf(job);
  const dir = WORKSPACES[mode].releaseDir(layout, app.name, release.version);
  const notes: string[] = [];
  if (MODES[mode].bundle === 'run' && !release.archivePath) {
    try {
      const from = sourceArchive(services, app, release, job);
      const info = await writeReleaseArchive({ services, app, release, releaseDir: dir, from });
      notes.push(
        `its archive ${path.basename(info.path).slice(0, 20)}… was made from ${from ? 'the archive it was deployed from' : 'its release directory'}`,
      );
    } catch (err) {
      notes.push(`its archive could not be made (${describe(err)}); deploy it again`);
    }
  }
  // As activate does after the switch, whatever the mode: `current` names where the live release runs from.
  if (fs.existsSync(dir)) await pointCurrent(layout.current(app.name), dir);
  // Post-install's part of a config release or a rollback: its config is the app's from now on.
  if (release.kind === 'config' || release.kind === 'rollback') store.apps.replaceConfig(app.id, release.config);
  if (release.status === 'pending') store.releases.finish(release.id, 'succeeded');

  const stages = store.jobs.stages(job.id);
  const done = new Set(stages.filter((s) => s.status === 'ok' || s.status === 'skipped').map((s) => s.stage));
  const missed = forwardStages(mode).filter((s) => !done.has(s));
  const failed = stages.find((s) => s.status === 'failed');
  const v = `v${release.version}`;
  const reason = failed
    ? `interrupted: the Slipway server stopped while rolling back from a failed ${failed.stage}; ${v} was still serving and stays live`
    : missed.length
      ? `interrupted: the Slipway server stopped after ${v} went live; ${v} stays live, but ${missed.join(', ')} did not run`
      : `the Slipway server stopped after the last stage; ${v} is live`;
  const ok = !failed && !missed.length;
  store.jobs.finish(job.id, ok ? 'succeeded' : 'failed', ok ? undefined : reason);
  fs.appendFileSync(job.logPath, [` !     ${reason}`, ...notes.map((n) => `       ${n}`)].join('\n') + '\n');
  log(`job ${job.id} (${app.name}): ${reason}${notes.length ? ` (${notes.join('; ')})` : ''}`);
}

/** The mode a job recorded (an unknown one, from an older store, as cooking). */
function modeOf(job: Job): Mode {
  return (job.mode in MODES ? job.mode : 'cooking') as Mode;
}

/** The archive a release was deployed from, when it still exists: linked again, its sha256 stays the one promotions and rollbacks know. */
function sourceArchive(services: Services, app: App, release: Release, job: Job): { archive: string; sha256?: string } | undefined {
  const source = job.params.source as DeploySource | undefined;
  let from: { archive: string; sha256?: string } | undefined;
  if (source?.kind === 'archive') from = { archive: source.archive, sha256: source.sha256 };
  else if (source?.kind === 'live' && release.sourceVersion != null) {
    const live = services.store.releases.get(app.id, release.sourceVersion);
    if (live?.archivePath) from = { archive: live.archivePath, sha256: live.sha256 ?? undefined };
  }
  return from && fs.existsSync(from.archive) ? from : undefined;
}

export async function restoreApps(services: Services, log: (m: string) => void): Promise<void> {
  const { store } = services;
  await Promise.allSettled(
    store.apps.list().map(async (app) => {
      if (app.currentRelease == null || settingsOf(app).get('stopped')) return;
      try {
        const rt = await releaseRuntime(services, app, app.currentRelease);
        await bringUp(services, app, rt, { signal: new AbortController().signal });
        log(`${app.name}: v${rt.release.version} is up`);
      } catch (err) {
        log(`${app.name}: could not bring v${app.currentRelease} back up: ${describe(err)}`);
      }
    }),
  );
}
