import { createRequire } from 'node:module';
import type Docker from 'dockerode';
import { SlipwayError } from '../errors.js';

let DockerClient: typeof Docker | undefined;

/**
 * A dockerode client. dockerode (with gRPC and protobuf beneath it) is about
 * half a second of start-up, and a server on the process driver may never
 * talk to an engine: it is loaded the first time one is needed.
 */
export function newDocker(opts: Docker.DockerOptions): Docker {
  DockerClient ??= createRequire(import.meta.url)('dockerode') as typeof Docker;
  return new DockerClient(opts);
}

/** The image every container (instances, one-offs) starts from. */
export const STACK_IMAGE = 'slipway/stack:bookworm';

/** Where the engine is, as a person would write it: DOCKER_HOST or the default socket. */
export function engineAddress(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_HOST || 'unix:///var/run/docker.sock';
}

/** A dockerode client for DOCKER_HOST (unix:// or tcp://) or /var/run/docker.sock. */
export function connectEngine(env: NodeJS.ProcessEnv = process.env): Docker {
  const host = env.DOCKER_HOST;
  if (!host) return newDocker({ socketPath: '/var/run/docker.sock' });
  if (host.startsWith('unix://')) return newDocker({ socketPath: host.slice('unix://'.length) });
  const url = new URL(host.replace(/^tcp:/, 'http:'));
  return newDocker({ host: url.hostname, port: Number(url.port || 2375), protocol: 'http' });
}

/**
 * Fails with one line naming what to start when the engine is missing or
 * stopped; dockerode would otherwise surface a bare `connect ENOENT`.
 */
export async function requireEngine(docker: Docker, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  try {
    await docker.ping();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no socket there'
        : code === 'ECONNREFUSED'
          ? 'connection refused'
          : code === 'EACCES'
            ? 'permission denied'
            : (err as Error).message;
    const todo =
      code === 'EACCES'
        ? 'run as root or add this user to the docker group'
        : 'start it with `systemctl start docker` (or run `dockerd` in the background), or point DOCKER_HOST at a running engine';
    // The remedy is in the message itself: this error ends `slipway server` and `stack:build`, which print one line.
    throw new SlipwayError('engine_unreachable', `cannot reach the Docker engine at ${engineAddress(env)} (${why}): ${todo}`, {
      status: 503,
      cause: err,
    });
  }
}

export async function imageExists(docker: Docker, tag: string): Promise<boolean> {
  return (await imageIdOf(docker, tag)) !== undefined;
}

/** The id of the image `tag` names now; undefined when there is none. */
export async function imageIdOf(docker: Docker, tag: string): Promise<string | undefined> {
  try {
    return (await docker.getImage(tag).inspect()).Id;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return undefined;
    throw err;
  }
}
