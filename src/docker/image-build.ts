import type Docker from 'dockerode';
import type { Readable } from 'node:stream';
import { SlipwayError } from '../errors.js';

export interface ImageBuildOptions {
  docker: Docker;
  /** A tar stream of the build context (`git archive`, an uploaded tarball) with a Dockerfile at its root. */
  context: Readable | NodeJS.ReadableStream;
  /** Tag for the result, e.g. `slipway/myapp:v3`. */
  tag: string;
  /** The Dockerfile's path in the context, when it is not `Dockerfile`. */
  dockerfile?: string;
  /** Labels set on the image (slipway.app, slipway.release, …) so clean-up can find it. */
  labels?: Record<string, string>;
  /** Build args (`--build-arg`), e.g. an app's config. */
  buildArgs?: Record<string, string>;
  /** Each line of build output as docker prints it (steps, RUN output). */
  onOutput?: (line: string) => void;
  signal?: AbortSignal;
}

/** One entry of the engine's build stream (JSON lines). */
interface BuildEvent {
  stream?: string;
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { ID?: string };
}

/**
 * Builds an image and returns its id. The engine answers 200 as soon as the
 * build starts, so a failing `RUN` shows up only as an `error` entry in the
 * stream: that entry, not the HTTP status, decides success.
 */
export async function buildImage(opts: ImageBuildOptions): Promise<string> {
  const stream = (await opts.docker.buildImage(opts.context, {
    t: opts.tag,
    ...(opts.dockerfile ? { dockerfile: opts.dockerfile } : {}),
    labels: opts.labels,
    buildargs: opts.buildArgs,
    rm: true,
    forcerm: true,
    abortSignal: opts.signal,
  } as Docker.ImageBuildOptions)) as NodeJS.ReadableStream;
  let imageId: string | undefined;
  let failure: string | undefined;
  await new Promise<void>((resolve, reject) => {
    opts.docker.modem.followProgress(
      stream,
      (err: Error | null) => (err ? reject(err) : resolve()),
      (event: BuildEvent) => {
        if (event.error || event.errorDetail) failure = (event.errorDetail?.message ?? event.error ?? 'build failed').trim();
        if (event.aux?.ID) imageId = event.aux.ID;
        const text = event.stream ?? event.status;
        if (text) for (const line of text.split('\n')) if (line.trim()) opts.onOutput?.(line);
      },
    );
  }).catch((err: Error) => {
    failure ??= err.message;
  });
  if (failure)
    throw new SlipwayError('image_build_failed', `the Dockerfile build failed: ${failure}`, {
      status: 422,
      hint: 'fix the Dockerfile (the build output above shows the failing step) and push again',
    });
  if (!imageId) imageId = (await opts.docker.getImage(opts.tag).inspect()).Id;
  return imageId;
}
