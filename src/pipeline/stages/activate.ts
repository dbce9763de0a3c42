import fsp from 'node:fs/promises';
import { readProcfile } from '../../builder/procfile.js';
import { crashPoint } from '../../crash-point.js';
import type { StageFn } from '../context.js';
import { readAppJson } from '../app-json.js';
import { bringUp } from '../bring-up.js';
import { processEnv, stopInstances } from '../formation.js';
import { runReleasePhase } from '../release-phase.js';
import { runDeployScript } from '../deploy-scripts.js';
import { resolveProcessTypes } from '../process-types.js';
import { settingsOf, writeSetting } from '../../apps/settings.js';

/**
 * Start new, health-check, switch, stop old. bringUp arms the trap that stops
 * the new instances before anything can fail (as Dokku does), so a failed
 * start, check or switch leaves the old release serving and nothing of the new
 * one running.
 */
export const activate: StageFn = async (ctx) => {
  const { services, app } = ctx;
  const version = ctx.release!.version;
  if (!Object.keys(ctx.processTypes).length) await resolveProcessTypes(ctx, readProcfile);
  ctx.releaseDir = await ctx.workspace.place(ctx);
  const env = processEnv(services, app.name, version, { ...ctx.configVars, ...ctx.config }, ctx.releaseDir);
  const { scripts } = readAppJson(ctx.releaseDir);
  await runDeployScript(ctx, 'predeploy', scripts, env);
  await runReleasePhase(ctx, env);
  await bringUp(
    services,
    app,
    { version, dir: ctx.releaseDir, env, processTypes: ctx.processTypes, image: ctx.image },
    {
      signal: ctx.signal,
      record: ctx.started,
      log: ctx.log,
      announceChecks: true,
      // The record moves first and the router right after it: a daemon killed
      // between the two comes back with this release live (a restart routes what
      // the store says), so the record and what is served never disagree.
      beforeSwitch: () => {
        crashPoint('activate:before-switch');
        services.store.apps.setCurrentRelease(app.id, version);
      },
      switchFailed: () => services.store.apps.setCurrentRelease(app.id, ctx.previous.version),
    },
  );
  ctx.switched = true;
  if (settingsOf(app).get('stopped')) writeSetting(services.store, app, 'stopped', undefined);
  ctx.log.info(`Switched the router to v${version}`);
  crashPoint('activate:after-switch');
  await pointCurrent(services.layout.current(app.name), ctx.releaseDir);
  if (ctx.previous.instances.length) {
    await stopInstances(services, ctx.previous.instances);
    ctx.log.info(`Stopped v${ctx.previous.version}`);
  }
  await runDeployScript(ctx, 'postdeploy', scripts, env);
};

/** Repoints `current` with a rename over it, so readers never see it missing. */
export async function pointCurrent(link: string, target: string): Promise<void> {
  const tmp = `${link}.${process.pid}.tmp`;
  await fsp.rm(tmp, { force: true });
  await fsp.symlink(target, tmp);
  await fsp.rename(tmp, link);
}
