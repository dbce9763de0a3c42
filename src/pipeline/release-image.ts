import { buildFromDockerfile } from '../build/dockerfile.js';
import { imageExists } from '../runtime/docker/engine.js';
import type { DeployContext } from './context.js';
import { homeId } from '../runtime/docker/container-spec.js';
import { buildEngine } from './engine.js';

/**
 * The image a release made from a Dockerfile app's archive (rollback,
 * promotion, config change) runs from: the one recorded in the archive while
 * the engine still has it, else the same source built again — the archive
 * holds the source as it was built, Dockerfile included.
 */
export async function imageForArchive(ctx: DeployContext, recorded: string): Promise<string> {
  const docker = await buildEngine(ctx.services);
  const short = recorded.replace(/^sha256:/, '').slice(0, 12);
  if (await imageExists(docker, recorded)) {
    ctx.log.info(`Reusing image ${short}`);
    return recorded;
  }
  ctx.log.info(`Image ${short} is gone; building it again from the archive's Dockerfile`);
  return buildFromDockerfile({
    docker,
    app: ctx.app.name,
    release: ctx.release!.version,
    home: homeId(ctx.services.layout.home),
    context: { kind: 'dir', dir: ctx.workDir },
    log: (l) => ctx.log.line(`       ${l}`),
    signal: ctx.signal,
  });
}
