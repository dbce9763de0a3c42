import { buildFromDockerfile } from '../build/dockerfile.js';
import { imageExists } from '../runtime/docker/engine.js';
import type { DeployContext, Services } from './context.js';
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
    context: { kind: 'dir', dir: ctx.workDir },
    log: (l) => ctx.log.line(`       ${l}`),
    signal: ctx.signal,
  });
}

/**
 * Frees a pruned release's image, unless a release that is kept runs from it
 * too (a rollback shares its target's image). The engine refuses to remove an
 * image a container still uses, which is left for a later prune.
 */
export async function dropPrunedImage(services: Services, appId: number, version: number): Promise<void> {
  const releases = services.store.releases.list(appId);
  const image = releases.find((r) => r.version === version)?.image;
  if (!image || releases.some((r) => r.version !== version && r.image === image && r.status !== 'pruned')) return;
  await buildEngine(services)
    .then((docker) => docker.getImage(image).remove())
    .catch(() => undefined);
}
