import { readProcfile } from '../../builder/procfile.js';
import { writeMetadata } from '../../releases/archive.js';
import type { StageFn } from '../context.js';
import { resolveProcessTypes } from '../process-types.js';

/**
 * The RFC's reconfigure procedure: settle what this release runs (Procfile
 * over buildpack defaults) and write it into the release's own metadata, so
 * the archive carries everything a final-mode deploy needs.
 */
export const reconfigure: StageFn = async (ctx) => {
  await resolveProcessTypes(ctx, readProcfile);
  await writeMetadata(ctx.workDir, {
    format: 1,
    app: ctx.app.name,
    version: ctx.release!.version,
    commit: ctx.release!.commit,
    buildpacks: ctx.buildpacks,
    processTypes: ctx.processTypes,
    configVars: ctx.configVars,
    ...(ctx.image ? { image: ctx.image } : {}),
    createdAt: new Date().toISOString(),
  });
  const types = Object.entries(ctx.processTypes).map(([t, c]) => `${t}: ${c || "(the image's own CMD)"}`);
  ctx.log.info(`Process types:\n  ${types.join('\n  ')}`);
};
