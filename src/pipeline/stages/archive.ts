import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import * as tar from 'tar';
import type { StageFn } from '../context.js';
import { processEnv } from '../formation.js';
import { runScript } from '../repo-hooks.js';
import { settingsOf } from '../../apps/settings.js';

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
  // Rotation goes by name: down to the millisecond, or two deploys in one second sort by their UUIDs.
  const stamp = new Date().toISOString().replace(/[-:]/g, '');
  const name = `${stamp}-${crypto.randomUUID()}.tar.gz`;
  const staging = await fsp.mkdtemp(path.join(dir, '.snap-'));
  // The live release's own scripts: it knows how to dump its data (the new code is not checked out yet).
  const live = ctx.previous.version != null ? ctx.services.layout.release(app, ctx.previous.version) : undefined;
  const scriptEnv = (extra: Record<string, string>) => ({
    ...processEnv(ctx.services, app, ctx.previous.version ?? 0, ctx.config, live!),
    ...extra,
  });
  // The hooks run in the app's guest, which sees its data dir and nothing else of the host: they exchange files there.
  const exchange = await fsp.mkdtemp(path.join(layout.data(app), '.slipway-snapshot-'));
  const user = ctx.services.guests?.userOf(ctx.app);
  if (user) await fsp.chown(exchange, user.uid, user.gid);
  try {
    if (live && fs.existsSync(live))
      await runScript(ctx, {
        script: '.slipway/pre_archive',
        cwd: live,
        release: ctx.previous.version!,
        env: scriptEnv({ SLIPWAY_SNAPSHOT_DIR: staging }),
        mounts: [{ path: staging }],
        stage: 'archive',
      });
    // The app's script wrote in there: a link named release.json must not aim our write at a host file.
    await fsp.rm(path.join(staging, 'release.json'), { recursive: true, force: true });
    await fsp.writeFile(
      path.join(staging, 'release.json'),
      JSON.stringify({ app, live: ctx.previous.version, at: new Date().toISOString() }) + '\n',
      { flag: 'wx' },
    );
    const extra = (await fsp.readdir(staging)).filter((f) => f !== 'release.json' && f !== 'data');
    // Packed from the app dir, links kept as links: a link the app made in data/ (or its dump) may point at any host file.
    const rel = path.relative(layout.app(app), staging);
    const unstage = (e: { path: string }) => void (e.path.startsWith(`${rel}/`) && (e.path = e.path.slice(rel.length + 1)));
    await tar.create({ gzip: true, cwd: layout.app(app), file: path.join(dir, name), portable: true, onWriteEntry: unstage }, [
      `${rel}/release.json`,
      'data',
      ...extra.map((f) => `${rel}/${f}`),
    ]);
  } finally {
    await fsp.rm(`${staging}.tar.gz`, { force: true });
    await fsp.rm(staging, { recursive: true, force: true });
    await fsp.rm(exchange, { recursive: true, force: true });
  }
  if (live && fs.existsSync(live)) {
    const snapshot = path.join(dir, name);
    await runScript(ctx, {
      script: '.slipway/post_archive',
      cwd: live,
      release: ctx.previous.version!,
      env: scriptEnv({ SLIPWAY_SNAPSHOT: snapshot }),
      mounts: [{ path: snapshot, readOnly: true }],
      stage: 'archive',
    });
  }
  const size = fs.statSync(path.join(dir, name)).size;
  ctx.log.info(
    `Snapshot of live release ${ctx.previous.version == null ? '(none yet)' : `v${ctx.previous.version}`} and data: backups/${name} (${size} bytes)`,
  );
  const snapshots = (await fsp.readdir(dir)).filter((f) => f.endsWith('.tar.gz')).sort();
  const keep = settingsOf(ctx.app).get('backups.keep') ?? settings.keepBackups;
  for (const old of snapshots.slice(0, Math.max(0, snapshots.length - keep))) await fsp.rm(path.join(dir, old), { force: true });
};
