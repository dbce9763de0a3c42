import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Workspace } from './context.js';
import { exportCommit, freshDir, updateWorkTree } from './stages/init-sync.js';

/**
 * Editable mode: one work tree per app, a real git checkout moved to each
 * pushed commit in place, and run from where it is. Files the build made and
 * git ignores stay, which is what makes iteration fast.
 */
export const WORK_TREE: Workspace = {
  workDir: (layout, app) => path.join(layout.app(app), 'work'),
  releaseDir: (layout, app) => path.join(layout.app(app), 'work'),
  checkout: updateWorkTree,
  place: async (ctx) => ctx.workDir,
  discard: async () => undefined,
  cleanUp: async () => undefined,
};

/**
 * Cooking and final mode: a fresh build dir per deploy, moved into
 * releases/vN (a rename: instant and atomic) once it is built, with the
 * persistent data dir linked in.
 */
export const BUILD_DIR: Workspace = {
  workDir: (layout, app) => layout.build(app),
  releaseDir: (layout, app, version) => layout.release(app, version),
  checkout: async (ctx, commit, gitEnv) => {
    await freshDir(ctx);
    await exportCommit(ctx, commit, gitEnv);
  },
  place: async (ctx) => {
    const { layout } = ctx.services;
    const dir = layout.release(ctx.app.name, ctx.release!.version);
    await fsp.rm(dir, { recursive: true, force: true });
    await fsp.rename(ctx.workDir, dir);
    const dataLink = path.join(dir, 'data');
    const exists = await fsp.lstat(dataLink).then(
      () => true,
      () => false,
    );
    if (!exists) await fsp.symlink(layout.data(ctx.app.name), dataLink);
    return dir;
  },
  discard: (layout, app, version) => fsp.rm(layout.release(app, version), { recursive: true, force: true }),
  cleanUp: (ctx) => fsp.rm(ctx.workDir, { recursive: true, force: true }).catch(() => undefined),
};
