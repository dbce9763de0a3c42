import fsp from 'node:fs/promises';
import path from 'node:path';
import { checkBuildpackSpec } from '../builder/buildpack-spec.js';
import { classifySpec, readBuildpacksFile } from '../builder/buildpack-source.js';
import { DEFAULT_EGRESS, egressError, gitEgress, refuseLocal, trustEntry, type Setter, type Target } from '../egress/index.js';
import type { App, Store } from '../store/index.js';
import type { ConfigChange } from './config-changes.js';
import type { DeployContext } from './context.js';
import { configTrustKey, settingsOf } from '../apps/settings.js';

interface Named {
  spec: string;
  /** Where it came from, for messages. */
  setting: string;
  /** May it name the server's own files (an admin set it)? */
  trusted: boolean;
}

/**
 * Checks every buildpack a build is about to copy or clone, before the build
 * starts (host and container builds alike): a host path or file URL only as
 * an admin set it, a relative path only inside the app's source, a git URL
 * only to an allowed address. A `.buildpacks` file is set by whoever deployed
 * the source, so its host paths count as an admin's only in an admin's deploy.
 */
export async function checkBuildpacks(ctx: DeployContext, env: Record<string, string>): Promise<void> {
  const settings = ctx.services.settings.egress ?? DEFAULT_EGRESS;
  for (const named of await namedBuildpacks(ctx, env)) {
    const target: Target = { setting: named.setting, url: named.spec };
    let source: ReturnType<typeof classifySpec>;
    try {
      source = classifySpec(named.spec, { builtinDir: ctx.services.settings.buildpacksDir, buildDir: ctx.workDir });
    } catch {
      continue; // An unknown name: the build says so itself.
    }
    if (source.kind === 'git') await gitEgress({ url: source.url, target, settings, trusted: named.trusted });
    else if (source.kind === 'path' && path.isAbsolute(named.spec)) refuseLocal(target, named.trusted);
    else if (source.kind === 'path') await insideSource(ctx.workDir, source.dir, target);
  }
}

async function namedBuildpacks(ctx: DeployContext, env: Record<string, string>): Promise<Named[]> {
  const buildpackUrl = settingsOf(ctx.app).get('buildpack_url');
  if (buildpackUrl) return [{ spec: buildpackUrl, setting: 'buildpack_url', trusted: settingsOf(ctx.app).setByAdmin('buildpack_url') }];
  // BUILDPACK_URL is a config var, not a setting: its admin fingerprint is egress/trust.ts's own entry.
  if (env.BUILDPACK_URL)
    return [
      {
        spec: env.BUILDPACK_URL,
        setting: 'BUILDPACK_URL',
        trusted: settingsOf(ctx.app).configSetByAdmin('BUILDPACK_URL', env.BUILDPACK_URL),
      },
    ];
  const specs = await readBuildpacksFile(ctx.workDir).catch(() => undefined);
  const byAdmin = ctx.services.store.users.byName(ctx.job.userName)?.role === 'admin';
  return (specs ?? []).map((spec) => ({ spec, setting: '.buildpacks', trusted: byAdmin }));
}

/** A relative buildpack path must stay inside the source, symlinks resolved. */
async function insideSource(buildDir: string, dir: string, target: Target): Promise<void> {
  const real = await fsp.realpath(dir).catch(() => undefined);
  if (real === undefined) return; // Missing: the build says "not a directory".
  const root = await fsp.realpath(buildDir);
  if (real !== root && !real.startsWith(root + path.sep)) {
    throw egressError(
      target,
      "points outside the app's source; relative buildpack paths must stay inside it",
      'ship the buildpack in the repository, or use a git URL',
    );
  }
}

/**
 * `config:set` and `PATCH /config`: BUILDPACK_URL is checked as the
 * buildpack_url setting is, and an admin's host path or file URL recorded as
 * theirs. Only those are fingerprinted (a config value may be a secret).
 */
export function checkConfigChange(store: Store, app: App, change: ConfigChange, who: Setter): void {
  const value = change.set.BUILDPACK_URL;
  if (value !== undefined) checkBuildpackSpec('BUILDPACK_URL', value, who);
  if (value === undefined && !change.unset.includes('BUILDPACK_URL')) return;
  const local = value !== undefined && (path.isAbsolute(value) || value.startsWith('file:'));
  store.apps.setSetting(app.id, ...trustEntry(configTrustKey('BUILDPACK_URL'), value, who.admin && local));
}
