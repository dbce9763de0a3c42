import fsp from 'node:fs/promises';
import path from 'node:path';
import { revealConfig } from '../../secrets/box.js';
import type { StageFn } from '../context.js';

/** Writes the app's config as an ENV_DIR (one file per var), as buildpacks expect. */
export const configure: StageFn = async (ctx) => {
  const envDir = ctx.services.layout.env(ctx.app.name);
  await fsp.rm(envDir, { recursive: true, force: true });
  await fsp.mkdir(envDir, { recursive: true, mode: 0o700 });
  const config = revealConfig(ctx.services.secrets, ctx.app.name, ctx.config);
  for (const [k, v] of Object.entries(config)) await fsp.writeFile(path.join(envDir, k), v, { mode: 0o600 });
  const n = Object.keys(ctx.config).length;
  ctx.log.info(`${n} config var${n === 1 ? '' : 's'}`);
};
