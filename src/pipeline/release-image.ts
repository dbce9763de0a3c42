import { readDockerfile } from '../builder/dockerfile-from.js';
import { deployerMayUse, imageBuilder } from './builders.js';
import type { DeployContext } from './context.js';

/**
 * The image a release made from a Dockerfile app's archive (rollback,
 * promotion, config change) runs from: the one recorded in the archive while
 * the engine still has it, else the same source built again — the archive
 * holds the source as it was built, Dockerfile included. Only an image of
 * this server's apps that the deployer may use is reused: an archive's
 * metadata is the uploader's word, and could name anyone's image.
 */
export async function imageForArchive(ctx: DeployContext, recorded: string): Promise<string> {
  const builder = imageBuilder(ctx.services);
  const short = recorded.replace(/^sha256:/, '').slice(0, 12);
  const mayUse = deployerMayUse(ctx);
  const reusable = await builder.reusableImage(recorded, mayUse);
  if (reusable.id) {
    ctx.log.info(`Reusing image ${short}`);
    return reusable.id;
  }
  ctx.log.info(
    `Image ${short} is ${reusable.found ? "not one of your apps' images" : 'gone'}; building it again from the archive's Dockerfile`,
  );
  return builder.dockerfile({
    app: ctx.app.name,
    release: ctx.release!.version,
    context: { kind: 'dir', dir: ctx.workDir },
    dockerfile: await readDockerfile(ctx.workDir),
    mayUse,
    log: (l) => ctx.log.line(`       ${l}`),
    signal: ctx.signal,
  });
}
