import type Docker from 'dockerode';
import { connectEngine, requireEngine } from '../docker/engine.js';
import { LABEL, homeId } from '../docker/labels.js';
import type { ImageBuilder } from './builder.js';
import { buildInContainer } from './container-build.js';
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

  /** `home`: the data directory; its `homeId` names and labels what the builds leave in a shared engine. */
  constructor(home: string) {
    this.home = homeId(home);
  }

  async ready(): Promise<void> {
    await this.engine();
  }

  async buildpacks(req: Parameters<ImageBuilder['buildpacks']>[0]) {
    return buildInContainer({ ...req, docker: await this.engine(), home: this.home });
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
