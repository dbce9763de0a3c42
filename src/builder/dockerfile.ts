import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { execa } from 'execa';
import * as tar from 'tar';
import { SlipwayError } from '../errors.js';
import { releaseImageLabels } from '../docker/labels.js';
import { buildImage } from '../docker/image-build.js';
import { checkBaseImages } from './dockerfile-from.js';

/** Whether the source is a Dockerfile app: a `Dockerfile` at its root. */
export async function hasDockerfile(dir: string): Promise<boolean> {
  return fsp.stat(path.join(dir, 'Dockerfile')).then(
    (s) => s.isFile(),
    () => false,
  );
}

/** Where the build context comes from: the pushed commit itself, or a directory (tarball uploads, rollbacks). */
export type DockerfileContext = { kind: 'git'; repo: string; commit: string; env?: Record<string, string> } | { kind: 'dir'; dir: string };

export interface DockerfileBuildOptions {
  docker: Docker;
  app: string;
  release: number;
  /** This server's `homeId`: images are labelled with it, so only this server's clean-up removes them. */
  home: string;
  context: DockerfileContext;
  /** The context's Dockerfile (see readDockerfile): the images it starts from are checked before building. */
  dockerfile: string;
  /** Whether the deploying user may use an app, whose images it may then build from. */
  mayUse(app: string): boolean;
  /** Each line of the engine's build output. */
  log: (line: string) => void;
  signal?: AbortSignal;
}

export const imageTag = (app: string, release: number) => `slipway/${app}:v${release}`;

/**
 * Builds a Dockerfile app's image, tagged `slipway/<app>:v<N>` and labelled so
 * clean-up finds it, and returns its id. A failing `RUN` is reported by
 * buildImage from the stream's error entries; a context that could not be
 * produced (a bad commit) is reported as that, not as the engine's truncated-tar
 * complaint it causes.
 */
export async function buildFromDockerfile(opts: DockerfileBuildOptions): Promise<string> {
  await checkBaseImages(opts.dockerfile, { docker: opts.docker, home: opts.home, mayUse: opts.mayUse });
  const { stream, done } = contextStream(opts.context);
  let producedFirst: unknown;
  const produced = done.catch((err: unknown) => {
    producedFirst = err;
  });
  const built = await buildImage({
    docker: opts.docker,
    context: stream,
    tag: imageTag(opts.app, opts.release),
    labels: releaseImageLabels(opts.app, opts.release, opts.home),
    onOutput: opts.log,
    signal: opts.signal,
  }).then(
    (id) => ({ id }),
    (err: unknown) => ({ err }),
  );
  // An engine that gave up early leaves the producer blocked on a full pipe.
  if ('err' in built) stream.destroy();
  else await produced;
  if (producedFirst) throw producedFirst;
  if ('err' in built) throw built.err;
  return built.id;
}

/** A tar stream of the context, and a promise that settles once it was produced in full. */
function contextStream(ctx: DockerfileContext): { stream: Readable; done: Promise<void> } {
  if (ctx.kind === 'dir') {
    // A work tree (editable mode) carries .git; the image never needs it.
    const pack = tar.create({ cwd: ctx.dir, portable: true, filter: (p) => !/^(\.\/)?\.git(\/|$)/.test(p) }, ['.']);
    const done = new Promise<void>((resolve, reject) => {
      pack.on('end', resolve);
      pack.on('error', reject);
    });
    return { stream: pack as unknown as Readable, done };
  }
  // The tar streams into the engine; only stderr is kept, for the error.
  const git = execa('git', ['archive', '--format=tar', ctx.commit], {
    cwd: ctx.repo,
    env: { ...process.env, ...ctx.env },
    extendEnv: false,
    stdin: 'ignore',
    buffer: { stdout: false },
    reject: false,
  });
  const done = git.then((run) => {
    if (!run.failed) return;
    // git could not be started at all: that error, as it is.
    if (run.exitCode === undefined && !run.signal) throw run.cause ?? run;
    throw new SlipwayError(
      'checkout_failed',
      `could not read commit ${ctx.commit.slice(0, 12)}: ${run.stderr.trim() || `git archive exited ${run.exitCode ?? 'on a signal'}`}`,
      { status: 500, cause: run },
    );
  });
  return { stream: git.stdout, done };
}
