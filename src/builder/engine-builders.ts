import type { BuildOutcome, BuildRequest, Builder, ImageBuilder, NextBuild, WarmUp } from './builder.js';
import { readDockerfile } from './dockerfile-from.js';
import { readProcfile } from './procfile.js';

/** Buildpacks inside a container from the stack image (apps on the docker driver), through the image engine. */
export class ContainerBuilder implements Builder {
  readonly runsBuildpacks = true;

  constructor(private readonly images: () => ImageBuilder) {}

  warmUp(w: WarmUp): void {
    this.images().warmUp?.(w);
  }

  async discard(jobId: number): Promise<void> {
    await this.images().discard?.(jobId);
  }

  prepareNext(next: NextBuild): void {
    this.images().prepareNext?.(next);
  }

  async build(req: BuildRequest): Promise<BuildOutcome> {
    const images = this.images();
    await images.ready();
    req.log('-----> Building inside a container from the stack image');
    return images.buildpacks({
      app: req.app.name,
      release: req.release,
      jobId: req.jobId,
      buildDir: req.buildDir,
      envDir: req.envDir,
      env: req.env,
      workDir: req.workDir,
      builtinDir: req.builtinDir,
      buildpackUrl: req.buildpackUrl,
      extraCaBundle: req.extraCaBundle,
      user: req.user,
      log: req.log,
      signal: req.signal,
    });
  }
}

/** A Dockerfile app's own image, through the image engine; its Procfile's commands run in that image. */
export class DockerfileBuilder implements Builder {
  readonly runsBuildpacks = false;

  constructor(private readonly images: () => ImageBuilder) {}

  async build(req: BuildRequest): Promise<BuildOutcome> {
    const images = this.images();
    await images.ready();
    req.log('-----> Dockerfile app detected: building its image');
    const image = await images.dockerfile({
      app: req.app.name,
      release: req.release,
      context: req.context,
      dockerfile: await readDockerfile(req.buildDir),
      mayUse: req.mayUse,
      log: (l) => req.log(`       ${l}`),
      signal: req.signal,
    });
    req.log(`-----> Built image ${image.replace(/^sha256:/, '').slice(0, 12)}`);
    // Without a `web:` line, web runs the image's own CMD ('').
    return { buildpacks: [], processTypes: { web: '', ...(await readProcfile(req.buildDir)) }, configVars: {}, image };
  }
}
