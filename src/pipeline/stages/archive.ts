import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import * as tar from 'tar';
import type { StageFn } from '../context.js';
import { processEnv } from '../formation.js';
import { runScript } from '../repo-hooks.js';

/**
 * The RFC's archive procedure: before anything changes, snapshot the live
 * release pointer and the persistent data dir into backups/, then rotate.
 */
export const archive: StageFn = async (ctx) => {
  const { layout, settings } = ctx.services;
  const app = ctx.app.name;
  const dir = layout.backups(app);
  await fsp.mkdir(dir, { recursive: true });
  await fsp.mkdir(layout.data(app), { recursive: true });
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const name = `${stamp}-${crypto.randomUUID()}.tar.gz`;
  const staging = await fsp.mkdtemp(path.join(dir, '.snap-'));
  // The live release's own scripts: it knows how to dump its data (the new code is not checked out yet).
  const live = ctx.previous.version != null ? ctx.services.layout.release(app, ctx.previous.version) : undefined;
  const scriptEnv = (extra: Record<string, string>) => ({ ...processEnv(ctx.services, app, ctx.previous.version ?? 0, ctx.config, live!), ...extra });
  // The hooks run in the app's guest, which sees its data dir and nothing else of the host: they exchange files there.
  const exchange = await fsp.mkdtemp(path.join(layout.data(app), '.slipway-snapshot-'));
  const user = ctx.services.guests?.userOf(ctx.app);
  if (user) await fsp.chown(exchange, user.uid, user.gid);
  try {
    if (live && fs.existsSync(live)) {
      await runScript(ctx, { script: '.slipway/pre_archive', cwd: live, env: scriptEnv({ SLIPWAY_SNAPSHOT_DIR: exchange }), stage: 'archive' });
      // Only what the hook wrote itself: a link it planted would make root's tar read a host file.
      for (const f of await fsp.readdir(exchange)) {
        const st = await fsp.lstat(path.join(exchange, f));
        if (st.isFile() || st.isDirectory()) await fsp.rename(path.join(exchange, f), path.join(staging, f));
      }
    }
    await fsp.writeFile(path.join(staging, 'release.json'), JSON.stringify({ app, live: ctx.previous.version, at: new Date().toISOString() }) + '\n');
    await fsp.symlink(layout.data(app), path.join(staging, 'data'));
    const extra = (await fsp.readdir(staging)).filter((f) => f !== 'release.json' && f !== 'data');
    // Written beside the staging dir and renamed: a crash never leaves a half snapshot that looks whole.
    await tar.create({ gzip: true, cwd: staging, file: `${staging}.tar.gz`, follow: true, portable: true, filter: (p) => !p.includes('/.slipway-snapshot-') }, ['release.json', 'data', ...extra]);
    await fsp.rename(`${staging}.tar.gz`, path.join(dir, name));
    if (live && fs.existsSync(live)) {
      // A read-only link to the snapshot, where the guest can read it.
      const shown = path.join(exchange, name);
      await fsp.link(path.join(dir, name), shown);
      await fsp.chmod(shown, 0o444);
      await runScript(ctx, { script: '.slipway/post_archive', cwd: live, env: scriptEnv({ SLIPWAY_SNAPSHOT: shown }), stage: 'archive' });
    }
  } finally {
    await fsp.rm(`${staging}.tar.gz`, { force: true });
    await fsp.rm(staging, { recursive: true, force: true });
    await fsp.rm(exchange, { recursive: true, force: true });
  }
  const size = fs.statSync(path.join(dir, name)).size;
  ctx.log.info(`Snapshot of live release ${ctx.previous.version == null ? '(none yet)' : `v${ctx.previous.version}`} and data: backups/${name} (${size} bytes)`);
  const snapshots = (await fsp.readdir(dir)).filter((f) => f.endsWith('.tar.gz')).sort();
  const keep = Number(ctx.app.settings['backups.keep'] ?? settings.keepBackups);
  for (const old of snapshots.slice(0, Math.max(0, snapshots.length - keep))) await fsp.rm(path.join(dir, old), { force: true });
};
