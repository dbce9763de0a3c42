import { writeEnvDir } from '../../builder/build-env.js';
import { revealConfig } from '../../secrets/box.js';
import type { StageFn } from '../context.js';

/**
 * Writes the app's config as an ENV_DIR (one file per var), as buildpacks
 * expect. In place (writeEnvDir empties the dir, it does not replace it): a
 * warm build's guest has it mounted already.
 */
export const configure: StageFn = async (ctx) => {
  const envDir = ctx.services.layout.env(ctx.app.name);
  await writeEnvDir(envDir, revealConfig(ctx.services.secrets, ctx.app.name, ctx.config));
  const n = Object.keys(ctx.config).length;
  ctx.log.info(`${n} config var${n === 1 ? '' : 's'}`);
};
