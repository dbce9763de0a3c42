import { buildFromDockerfile } from '../build/dockerfile.js';
import { readDockerfile } from '../build/dockerfile-from.js';
import { deployerMayUse } from './builders.js';
import type { DeployContext } from './context.js';
import { homeId } from '../docker/labels.js';
import { buildEngine } from './engine.js';

/**
 * The image a release made from a Dockerfile app's archive (rollback,
 * promotion, config change) runs from: the one recorded in the archive while
 * the engine still has it, else the same source built again — the archive
 * holds the source as it was built, Dockerfile included. Only an image of
 * this server's apps that the deployer may use is reused: an archive's
 * metadata is the uploader's word, and could name anyone's image.
 */
export async function imageForArchive(ctx: DeployContext, recorded: string): Promise<string> {
  const docker = await buildEngine(ctx.services);
  const short = recorded.replace(/^sha256:/, '').slice(0, 12);
  const home = homeId(ctx.services.layout.home);
  const mayUse = deployerMayUse(ctx);
  const found = await docker
    .getImage(recorded)
    .inspect()
    .catch(() => undefined);
  const labels = found?.Config?.Labels ?? {};
  if (found && labels['slipway.home'] === home && mayUse(labels['slipway.app'] ?? '')) {
    ctx.log.info(`Reusing image ${short}`);
    // By id: a name in the metadata could point elsewhere by the time it starts.
    return found.Id;
  }
  ctx.log.info(`Image ${short} is ${found ? "not one of your apps' images" : 'gone'}; building it again from the archive's Dockerfile`);
  return buildFromDockerfile({
    docker,
    app: ctx.app.name,
    release: ctx.release!.version,
    home,
    context: { kind: 'dir', dir: ctx.workDir },
    dockerfile: await readDockerfile(ctx.workDir),
    mayUse,
    log: (l) => ctx.log.line(`       ${l}`),
    signal: ctx.signal,
  });
}
