import type Docker from 'dockerode';
import fs from 'node:fs';
import { connectEngine, requireEngine } from '../docker/engine.js';
import { LABEL, homeId } from '../docker/labels.js';
import type { ImageBuilder, NextBuild, WarmUp } from './builder.js';
import { dirIds } from './dir-ids.js';
import { buildInContainer, startWarmContainer, type WarmContainer } from './container-build.js';
import { buildFromDockerfile } from './dockerfile.js';

/** A container started after a deploy for the app's next build, with the dirs it holds. */
interface NextContainer {
  warm: WarmContainer;
  /** Device and inode of each dir it mounts: a dir removed and made again since is not the one it sees. */
  dirs: string;
  expires: NodeJS.Timeout;
}

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
  private readonly next = new Map<string, NextContainer>();
  /** The removal of each job's build container, which the job's end waits for. */
  private readonly removals = new Map<number, Promise<void>>();

  /**
   * `home`: the data directory; its `homeId` names and labels what the builds leave in a shared engine.
   * `keepWarmMs`: how long a container started for an app's next build waits for a push (0: none is started).
   */
  constructor(
    home: string,
    private readonly keepWarmMs = 0,
  ) {
    this.home = homeId(home);
  }

  async ready(): Promise<void> {
    await this.engine();
  }

  async buildpacks(req: Parameters<ImageBuilder['buildpacks']>[0]) {
    const warm = this.warm.get(req.jobId);
    this.warm.delete(req.jobId);
    return buildInContainer({ ...req, docker: await this.engine(), home: this.home }, warm, (removed) =>
      this.removals.set(req.jobId, removed),
    );
  }

  /**
   * The build's container starts as the deploy begins, so that its start (the
   * slowest part of a container build of a small app) overlaps the checkout.
   */
  warmUp(w: WarmUp): void {
    if (this.warm.has(w.jobId)) return;
    const next = this.takeNext(w.app);
    if (next && next.dirs === containerDirIds(w)) return void this.warm.set(w.jobId, next.warm);
    void next?.warm.discard();
    const { cacheDir: _hostCache, ...mounts } = w;
    this.warm.set(w.jobId, startWarmContainer({ ...mounts, docker: this.client(), home: this.home }));
  }

  /** Ends the job's container if its build did not use it, and waits until the one it used is gone. */
  async discard(jobId: number): Promise<void> {
    const w = this.warm.get(jobId);
    const removed = this.removals.get(jobId);
    this.warm.delete(jobId);
    this.removals.delete(jobId);
    await Promise.all([w?.discard(), removed]);
  }

  /**
   * A container's start takes the engine most of a second here: longer than
   * a small app's whole deploy on the process driver. After a deploy, the
   * app's next build gets its container at once, waiting on stdin with the
   * dirs that build will use, so that the next push finds it up. Unused for
   * `keepWarmMs`, it goes. It holds nothing of the app's but empty dirs and
   * its cache volume until a build hands it the request.
   */
  prepareNext(n: NextBuild): void {
    if (this.keepWarmMs <= 0) return;
    void this.takeNext(n.app)?.warm.discard();
    // Made here (empty) if missing, as the next deploy empties and fills them in place; never the app's own dir.
    for (const dir of [n.buildDir, n.envDir, n.workDir]) {
      try {
        fs.mkdirSync(dir, { mode: dir === n.envDir ? 0o700 : 0o755 });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return;
      }
    }
    const { cacheDir: _hostCache, ...mounts } = n;
    const warm = startWarmContainer({ ...mounts, jobId: 'next', docker: this.client(), home: this.home, log: () => undefined });
    const expires = setTimeout(() => {
      if (this.next.get(n.app)?.warm === warm) this.next.delete(n.app);
      void warm.discard();
    }, this.keepWarmMs);
    expires.unref();
    this.next.set(n.app, { warm, dirs: containerDirIds(n), expires });
  }

  /** Ends the app's next build's container (the app is destroyed, the server stops). */
  async forget(app?: string): Promise<void> {
    const apps = app === undefined ? [...this.next.keys()] : [app];
    await Promise.all(apps.map((a) => this.takeNext(a)?.warm.discard()));
  }

  private takeNext(app: string): NextContainer | undefined {
    const next = this.next.get(app);
    this.next.delete(app);
    if (next) clearTimeout(next.expires);
    return next;
  }

  private client(): Docker {
    this.docker ??= connectEngine();
    return this.docker;
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
    const docker = this.client();
    await requireEngine(docker);
    return docker;
  }
}

/** The dirs a build's container would hold, by device and inode. */
function containerDirIds(d: Pick<NextBuild, 'buildDir' | 'envDir' | 'workDir'>): string {
  return dirIds([d.buildDir, d.envDir, d.workDir]);
}
