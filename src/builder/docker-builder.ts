import type Docker from 'dockerode';
import { connectEngine, requireEngine } from '../docker/engine.js';
import { LABEL, homeId } from '../docker/labels.js';
import type { ImageBuilder, WarmUp } from './builder.js';
import { buildInContainer, startWarmContainer, type WarmContainer } from './container-build.js';
import { buildFromDockerfile } from './dockerfile.js';

/**
 * Container and Dockerfile builds against the Docker engine, connected on
 * first use: a process-driver server needs none until an app asks for
 * docker. A stopped engine fails the build with the one line saying what to
 * start.
 */
export class DockerImageBuilder implements ImageBuilder {
  private docker?: Docker;
  private readonly home: string;
  private readonly warm = new Map<number, WarmContainer>();

  /** `home`: the data directory; its `homeId` names and labels what the builds leave in a shared engine. */
  constructor(home: string) {
    this.home = homeId(home);
  }

  async ready(): Promise<void> {
    await this.engine();
  }

  async buildpacks(req: Parameters<ImageBuilder['buildpacks']>[0]) {
    const warm = this.warm.get(req.jobId);
    this.warm.delete(req.jobId);
    return buildInContainer({ ...req, docker: await this.engine(), home: this.home }, warm);
  }

  /**
   * The build's container starts as the deploy begins, so that its start (the
   * slowest part of a container build of a small app) overlaps the checkout.
   */
  warmUp(w: WarmUp): void {
    if (this.warm.has(w.jobId)) return;
    const docker = connectEngine();
    this.docker ??= docker;
    const { cacheDir: _hostCache, ...mounts } = w;
    this.warm.set(w.jobId, startWarmContainer({ ...mounts, docker: this.docker, home: this.home }));
  }

  async discard(jobId: number): Promise<void> {
    const w = this.warm.get(jobId);
    this.warm.delete(jobId);
    await w?.discard();
  }

  async dockerfile(req: Parameters<ImageBuilder['dockerfile']>[0]) {
    return buildFromDockerfile({ ...req, docker: await this.engine(), home: this.home });
  }

  async reusableImage(recorded: string, mayUse: (app: string) => boolean) {
    const docker = await this.engine();
    const found = await docker
      .getImage(recorded)
      .inspect()
      .catch(() => undefined);
    const labels = found?.Config?.Labels ?? {};
    // By id: a name in the metadata could point elsewhere by the time it starts.
    if (found && labels[LABEL.home] === this.home && mayUse(labels[LABEL.app] ?? '')) return { id: found.Id, found: true };
    return { found: !!found };
  }

  private async engine(): Promise<Docker> {
    this.docker ??= connectEngine();
    await requireEngine(this.docker);
    return this.docker;
  }
}
