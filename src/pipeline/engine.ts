import type Docker from 'dockerode';
import { connectEngine, requireEngine } from '../docker/engine.js';
import type { Services } from './context.js';

/**
 * The Docker engine for container and Dockerfile builds, connected on first
 * use: a process-driver server needs none until an app asks for docker. A
 * stopped engine fails here with the one line saying what to start.
 */
export async function buildEngine(services: Services): Promise<Docker> {
  services.docker ??= connectEngine();
  await requireEngine(services.docker);
  return services.docker;
}
