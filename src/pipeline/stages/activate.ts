import fsp from 'node:fs/promises';
import path from 'node:path';
import { readProcfile } from '../../build/procfile.js';
import { crashPoint } from '../../crash-point.js';
import type { DeployContext, StageFn } from '../context.js';
import { readAppJson } from '../app-json.js';
import { processEnv, routeTo, startFormation, stopInstances } from '../formation.js';
import { awaitHealthy } from '../health-checks.js';
import { runReleasePhase } from '../release-phase.js';
import { runDeployScript } from '../deploy-scripts.js';
import { resolveProcessTypes } from '../process-types.js';
import { settingsOf, writeSetting } from '../../apps/settings.js';

/**
 * Start new, health-check, switch, stop old. The trap that stops the new
 * instances is armed before the health check (as Dokku does), so a failed
 * check leaves the old release serving and nothing of the new one running.
 */
export const activate: StageFn = async (ctx) => {
  const { services, app } = ctx;
  const version = ctx.release!.version;
  if (!Object.keys(ctx.processTypes).length) await resolveProcessTypes(ctx, readProcfile);
  ctx.releaseDir = await placeRelease(ctx);
  const env = processEnv(services, app.name, version, { ...ctx.configVars, ...ctx.config }, ctx.releaseDir);
  const { healthchecks, scripts } = readAppJson(ctx.releaseDir);
  const checks = healthchecks.web;
  await runDeployScript(ctx, 'predeploy', scripts, env);
  await runReleasePhase(ctx, env);
  try {
    ctx.started = await startFormation({ services, app, version, releaseDir: ctx.releaseDir, processTypes: ctx.processTypes, env, image: ctx.image, log: ctx.log });
    ctx.log.info(
      checks.length
        ? `Running ${checks.length} health check${checks.length === 1 ? '' : 's'} from app.json`
        : `Waiting for web to answer HTTP (up to ${Math.round(services.settings.healthTimeoutMs / 1000)}s)`,
    );
    await awaitHealthy(services, app.name, ctx.started, { timeoutMs: services.settings.healthTimeoutMs, signal: ctx.signal, checks });
  } catch (err) {
    await stopInstances(services, ctx.started);
    ctx.started = [];
    throw err;
  }
  crashPoint('activate:before-switch');
  // The record moves first and the router right after it: a daemon killed
  // between the two comes back with this release live (a restart routes what
  // the store says), so the record and what is served never disagree.
  services.store.apps.setCurrentRelease(app.id, version);
  try {
    await routeTo(services, app, ctx.started);
  } catch (err) {
    services.store.apps.setCurrentRelease(app.id, ctx.previous.version);
    throw err;
  }
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

/**
 * Moves the assembled build into releases/vN (a rename: instant and atomic)
 * and links the persistent data dir into it. Editable apps run in place.
 */
async function placeRelease(ctx: DeployContext): Promise<string> {
  const { layout } = ctx.services;
  if (ctx.mode === 'editable') return ctx.workDir;
  const dir = layout.release(ctx.app.name, ctx.release!.version);
  await fsp.rm(dir, { recursive: true, force: true });
  await fsp.rename(ctx.workDir, dir);
  const dataLink = path.join(dir, 'data');
  const exists = await fsp.lstat(dataLink).then(() => true, () => false);
  if (!exists) await fsp.symlink(layout.data(ctx.app.name), dataLink);
  return dir;
}

/** Repoints `current` with a rename over it, so readers never see it missing. */
export async function pointCurrent(link: string, target: string): Promise<void> {
  const tmp = `${link}.${process.pid}.tmp`;
  await fsp.rm(tmp, { force: true });
  await fsp.symlink(target, tmp);
  await fsp.rename(tmp, link);
}
