import { spawn } from 'node:child_process';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type Docker from 'dockerode';
import { SlipwayError } from '../../errors.js';
import { buildImage } from '../../docker/image-build.js';
import { STACK_IMAGE, imageExists } from '../../docker/engine.js';
import { releaseImageLabels } from '../../docker/labels.js';
import type { GuestUser } from '../driver.js';

export interface ReleaseImageRequest {
  docker: Docker;
  /** `HOST:PORT` of the registry every node pulls from. */
  registry: string;
  app: string;
  release: number;
  releaseDir: string;
  /** Dockerfile apps: the release's image, tagged and pushed as it is. */
  image?: string;
  user: GuestUser;
  home: string;
  log: (line: string) => void;
}

/** Where a release's image lives in the registry: `REGISTRY/slipway/APP:vN`. */
export function releaseImageRef(registry: string, app: string, release: number): string {
  return `${registry}/slipway/${app}:v${release}`;
}

/** Its own name, so a release that holds a `Dockerfile` of its own never has it taken for ours. */
const DOCKERFILE = '.slipway-release.Dockerfile';

/**
 * The image a swarm app's release runs from on every node. Made once per
 * release on the manager's engine and pushed: a buildpack release is the
 * stack image with the release in /app, owned by the app's user (so /app is
 * the container's own writable, ephemeral layer); a Dockerfile app's image is
 * tagged as it is. A release whose image the engine still holds (a rollback,
 * a daemon restart) reuses it: nothing is built again.
 */
export async function releaseImage(req: ReleaseImageRequest): Promise<string> {
  const ref = releaseImageRef(req.registry, req.app, req.release);
  const [repo, tag] = [ref.slice(0, ref.lastIndexOf(':')), ref.slice(ref.lastIndexOf(':') + 1)];
  if (await imageExists(req.docker, ref)) {
    req.log(`Reusing image ${ref}`);
  } else if (req.image) {
    await req.docker.getImage(req.image).tag({ repo, tag });
  } else {
    if (!(await imageExists(req.docker, STACK_IMAGE)))
      throw new SlipwayError('stack_missing', `the Swarm manager's engine has no stack image ${STACK_IMAGE}`, {
        status: 503,
        hint: 'build it there once with `slipway stack:build` (DOCKER_HOST set to the manager)',
      });
    req.log(`Building image ${ref}`);
    await buildImage({
      docker: req.docker,
      context: await contextOf(req.releaseDir, req.user),
      dockerfile: DOCKERFILE,
      tag: ref,
      labels: releaseImageLabels(req.app, req.release, req.home),
    });
  }
  await push(req.docker, ref, req.registry);
  return ref;
}

/** A tar of the release (without `.git`) and the Dockerfile that puts it at /app. */
async function contextOf(releaseDir: string, user: GuestUser): Promise<NodeJS.ReadableStream> {
  const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'slipway-image-'));
  await fsp.writeFile(path.join(tmp, DOCKERFILE), `FROM ${STACK_IMAGE}\nCOPY --chown=${user.uid}:${user.gid} . /app\nWORKDIR /app\n`);
  const tar = spawn(
    'tar',
    ['-c', '-C', tmp, DOCKERFILE, '-C', path.resolve(releaseDir), `--exclude=./.git`, `--exclude=./${DOCKERFILE}`, '.'],
    {
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  tar.on('close', () => void fsp.rm(tmp, { recursive: true, force: true }));
  return tar.stdout;
}

async function push(docker: Docker, ref: string, registry: string): Promise<void> {
  const stream = (await docker.getImage(ref).push({ authconfig: {} } as never)) as unknown as NodeJS.ReadableStream;
  await new Promise<void>((resolve, reject) =>
    docker.modem.followProgress(stream, (err: Error | null, events: Array<{ error?: string }> | undefined) => {
      const failed = err?.message ?? events?.find((e) => e.error)?.error;
      if (!failed) return resolve();
      reject(
        new SlipwayError('registry_push_failed', `cannot push ${ref} to the registry ${registry}: ${failed.trim()}`, {
          status: 502,
          hint: "check that the registry answers (`--registry HOST:PORT`) and that the manager's engine lists it under insecure-registries when it is plain HTTP",
        }),
      );
    }),
  );
}
