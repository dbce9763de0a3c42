import type Docker from 'dockerode';
import { SlipwayError } from '../errors.js';
import { connectEngine, engineAddress, requireEngine } from './engine.js';

/**
 * The Docker engine as the API sees it (api/docker-engine.ts): optional. Built images and host
 * details use it when it answers; without it images list release archives
 * only, and only what needs it (building an image) fails, with the engine's
 * own one-line error (503).
 */
export interface EngineAccess {
  docker: Docker;
  /** The engine, or the `engine_unreachable` error saying what to start. */
  require(): Promise<Docker>;
  /** Never throws: whether the engine answers, its version, or why not. */
  version(): Promise<{ reachable: boolean; version?: string; error?: unknown }>;
}

/** An engine behind a TCP address that drops packets would hold a listing forever; it counts as unreachable. */
const ANSWER_MS = 5000;

function answered(docker: Docker): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const silent = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new SlipwayError(
            'engine_unreachable',
            `the Docker engine at ${engineAddress()} did not answer within ${ANSWER_MS / 1000} s: check that it runs, or point DOCKER_HOST at one that does`,
            { status: 503 },
          ),
        ),
      ANSWER_MS,
    );
  });
  return Promise.race([requireEngine(docker), silent]).finally(() => clearTimeout(timer));
}

/** Access to the engine at DOCKER_HOST; no connection is made until a request needs one. */
export function engineAccess(): EngineAccess {
  const docker = connectEngine();
  return {
    docker,
    require: async () => {
      await answered(docker);
      return docker;
    },
    version: async () => {
      try {
        await answered(docker);
        return { reachable: true, version: (await docker.version()).Version };
      } catch (error) {
        return { reachable: false, error };
      }
    },
  };
}
