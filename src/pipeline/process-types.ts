import { DeployError } from '../errors.js';
import type { DeployContext } from './context.js';

/** The Procfile in the release wins over buildpack defaults, as on Heroku. */
export async function resolveProcessTypes(
  ctx: DeployContext,
  readProcfile: (dir: string) => Promise<Record<string, string>> | Record<string, string>,
): Promise<void> {
  const fromProcfile = await readProcfile(ctx.workDir);
  ctx.processTypes = { ...ctx.processTypes, ...fromProcfile };
  if (!Object.keys(ctx.processTypes).length) {
    throw new DeployError('this app defines no process types', {
      app: ctx.app.name,
      hint: 'add a Procfile with a line such as `web: node server.js`',
    });
  }
  ctx.services.store.releases.update(ctx.release!.id, { processTypes: ctx.processTypes, buildpacks: ctx.buildpacks });
}
