import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { PassThrough, type Duplex, type Writable } from 'node:stream';
import type Docker from 'dockerode';
import { randomBytes } from 'node:crypto';
import { SlipwayError } from '../errors.js';
import { cgroupProcsOfContainer, emptied } from '../docker/container-end.js';
import { PACKAGE_ROOT } from '../paths.js';
import { CONTAINER_CA, LABEL } from '../docker/labels.js';
import { STACK_IMAGE, imageIdOf } from '../docker/engine.js';
import { BUILD_LIMITS } from '../guest/users.js';
import { APP_FILE_MAX_BYTES, readAppFile } from '../guest/app-files.js';
import { SERVER_OWNED, confinement, guestUser, handOver, isDir } from '../docker/guest.js';
import type { GuestUser } from '../runtime/driver.js';
import { appAccount } from '../guest/identity.js';
import { BuildError, type BuildResult } from './buildpacks.js';
import { writeEnvDir } from './build-env.js';
import { IN_CONTAINER as P, type ContainerBuildOutcome, type ContainerBuildRequest } from './container-paths.js';
import { splitLines } from './run-streaming.js';

export interface ContainerBuildOptions {
  docker: Docker;
  app: string;
  /** The release being built. */
  release: number;
  /** The deploy's job: names the container (`slipway-<home>-<app>-build-<job>`), and a warm one with it. */
  jobId: number;
  /** This server's `homeId`: in the build container's and cache volume's names and labels, so servers sharing an engine never touch each other's. */
  home: string;
  /** The app's source on the host, compiled in place (mounted at /tmp/build). */
  buildDir: string;
  /** ENV_DIR on the host: rewritten from `env`, then mounted read-only. */
  envDir: string;
  /** The app's config vars (and SOURCE_VERSION). */
  env: Record<string, string>;
  /** Scratch space on the host for this app's builds (mounted at /tmp/slipway). */
  workDir: string;
  /** The built-in buildpacks folder (mounted read-only). */
  builtinDir: string;
  buildpackUrl?: string;
  /** Host CA bundle, mounted read-only and named by the CA variables inside. */
  extraCaBundle?: string;
  /** Default slipway/stack:bookworm. */
  image?: string;
  /** The app's own user: the build runs as it, as the app's processes do. */
  user?: GuestUser;
  log: (line: string) => void;
  signal?: AbortSignal;
}

/** Proxy settings reach the build as they do on the host: without them no registry is reachable. */
const PASS_THROUGH = ['HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy'];

/**
 * A build may need more memory than a small dyno (npm, pip, compilers), but
 * it is bounded all the same, and a fork loop in a build script stops at the
 * pids limit.
 */

/** The per-app CACHE_DIR of container builds, kept between builds as herokuish keeps /cache. */
export const cacheVolume = (home: string, app: string) => `slipway-${home}-cache-${app}`;

/**
 * Buildpacks run inside a container from the stack image, as herokuish does:
 * the source, the app's cache volume and ENV_DIR are mounted, and the same
 * runner as a host build (container-entry.ts) does the work. The release dir
 * it leaves is the one a host build leaves, so the archive stage packs the
 * same kind of release and releases stay interchangeable between drivers.
 *
 * `warm`: the container startWarmContainer started as the deploy began, its
 * runner waiting for the request on stdin; used when it mounts what this
 * build needs, else ended. `removing` is told when the container the build
 * ran in will be gone from the engine: after the build's result, in the
 * background, so the deploy goes on meanwhile.
 */
export async function buildInContainer(
  opts: ContainerBuildOptions,
  warm?: WarmContainer,
  removing?: (removed: Promise<void>) => void,
): Promise<BuildResult> {
  const started = warm && warm.mounts === mountsOf(opts) ? await warm.started.catch(() => undefined) : undefined;
  // One started long before (for the next build) may have been ended since: by an engine restart, by hand;
  // or run a stack image the tag no longer names (`stack:build --force` since).
  const current = started?.running() ? await imageIdOf(opts.docker, opts.image ?? STACK_IMAGE).catch(() => undefined) : undefined;
  const ready = current !== undefined && current === started?.imageId ? started : undefined;
  if (warm && !ready) await warm.discard();
  const imageId = ready ? ready.imageId : await checkImage(opts);
  ready?.bind(opts);
  const user = guestUser(opts.home, opts.app, opts.user);
  await writeEnvDir(opts.envDir, opts.env);
  await fsp.mkdir(opts.workDir, { recursive: true });
  const outcomeFile = path.join(opts.workDir, path.basename(P.outcome));
  await fsp.rm(outcomeFile, { force: true });
  // What the build writes is the app user's: its source, its scratch space (a host build may have left
  // buildpack copies there); ENV_DIR it reads (mode 0600).
  for (const dir of [opts.buildDir, opts.workDir, opts.envDir]) await handOver(dir, user, { recursive: true, skip: SERVER_OWNED });
  const doneMark = `slipway-build-done-${randomBytes(16).toString('hex')}`;
  const request = JSON.stringify(requestOf(opts, doneMark));
  const container = ready ?? (await startContainer(opts, request, doneMark, imageId));
  if (ready) ready.send(request, doneMark);
  removing?.(container.removed);
  const code = await container.exited;
  if (opts.signal?.aborted) throw new BuildError('the build was aborted', { step: 'compile' });
  return await readOutcome(outcomeFile, code);
}

/**
 * What a build container is started with, all known as the deploy begins
 * (before the source is checked out). `jobId` names it; `next` for one
 * started ahead of a deploy nobody has pushed yet (see DockerImageBuilder).
 */
export type ContainerMounts = Omit<ContainerBuildOptions, 'env' | 'buildpackUrl' | 'release' | 'jobId'> & { jobId: number | 'next' };

/** A build container started ahead of its build (see HostBuilder, which does the same on the host). */
export interface WarmContainer {
  /** The mounts it was started with: it fits a build only with the same ones. */
  mounts: string;
  /** Undefined when it could not start (no engine, no stack image): the build then starts its own and reports. */
  started: Promise<BuildContainer | undefined>;
  /** Ends it unused; nothing of it stays in the engine. */
  discard(): Promise<void>;
}

/** Where a build container's output goes and what aborts it: the job using it, which may come after its start. */
class JobBinding {
  private signal?: AbortSignal;
  constructor(
    public log: (line: string) => void,
    signal: AbortSignal | undefined,
    private readonly onAbort: () => void,
  ) {
    this.bind({ log, signal });
  }

  bind(job: { log: (line: string) => void; signal?: AbortSignal }): void {
    this.release();
    this.log = job.log;
    this.signal = job.signal;
    this.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  release(): void {
    this.signal?.removeEventListener('abort', this.onAbort);
    this.signal = undefined;
  }
}

/** Starts a build's container with its runner waiting on stdin for the request. */
export function startWarmContainer(opts: ContainerMounts): WarmContainer {
  const started = checkImage(opts).then((id) => startContainer(opts, '-', undefined, id));
  const quiet = started.catch(() => undefined);
  return {
    mounts: mountsOf(opts),
    started: quiet,
    discard: async () => {
      const c = await quiet;
      await c?.stop();
    },
  };
}

/** What a started container fits: the job it was started for is the caller's to match. */
function mountsOf(o: Omit<ContainerMounts, 'jobId'>): string {
  return JSON.stringify([
    o.app,
    o.home,
    o.buildDir,
    o.envDir,
    o.workDir,
    o.builtinDir,
    o.extraCaBundle ?? '',
    o.image ?? STACK_IMAGE,
    o.user?.uid,
  ]);
}

/** The id of the image builds run in; a clear error when there is none. */
async function checkImage(opts: Pick<ContainerBuildOptions, 'docker' | 'image'>): Promise<string> {
  const image = opts.image ?? STACK_IMAGE;
  const id = await imageIdOf(opts.docker, image);
  if (id === undefined) {
    throw new SlipwayError('stack_missing', `the Docker stack image ${image} does not exist: build it once with \`slipway stack:build\``, {
      status: 503,
    });
  }
  return id;
}

function requestOf(opts: ContainerBuildOptions, doneMark: string): ContainerBuildRequest {
  return {
    app: opts.app,
    doneMark,
    buildpackUrl: opts.buildpackUrl || opts.env.BUILDPACK_URL || undefined,
    sourceVersion: opts.env.SOURCE_VERSION,
    extraCaBundle: opts.extraCaBundle ? CONTAINER_CA : undefined,
  };
}

/** A started build container; its runner has its request (the JSON) or waits for it on stdin (`-`). */
interface BuildContainer {
  /** The image it runs, by id. */
  imageId: string;
  /** Gives a waiting runner its request (with `doneMark` in it) and ends its stdin. */
  send(request: string, doneMark: string): void;
  /** False once it exited. */
  running(): boolean;
  /** Its output goes to this job's log from now on, and the job's abort stops it. */
  bind(job: { log: (line: string) => void; signal?: AbortSignal }): void;
  /**
   * The runner's exit code, once its output is over and the container is
   * gone; or 0 once the runner printed its done mark (its outcome is
   * written) and nothing is left running in the container.
   */
  exited: Promise<number>;
  /** Settles once it is removed, which starts when `exited` settles. */
  removed: Promise<void>;
  /** Kills and removes it; its output is no longer shown. */
  stop(): Promise<void>;
}

/** `imageId`: what the tag named just before (checkImage); the container is made from the tag. */
async function startContainer(
  opts: ContainerMounts,
  request: string,
  doneMark: string | undefined,
  imageId: string,
): Promise<BuildContainer> {
  const { docker } = opts;
  const user = guestUser(opts.home, opts.app, opts.user);
  await fsp.mkdir(opts.workDir, { recursive: true });
  await docker.createVolume({
    Name: cacheVolume(opts.home, opts.app),
    Labels: { [LABEL.app]: opts.app, [LABEL.role]: 'build-cache', [LABEL.home]: opts.home },
  });
  const name = `slipway-${opts.home}-${opts.app}-build-${opts.jobId}`;
  // Only a dead leftover can have this name: an app's deploys never overlap, and other servers' names carry their own home.
  await docker
    .getContainer(name)
    .remove({ force: true })
    .catch(() => undefined);
  const waits = request === '-';
  const container = await docker.createContainer(createOptions(opts, name, user, request));
  let muted = false;
  let mark = doneMark;
  let marked!: () => void;
  const finished = new Promise<void>((resolve) => (marked = resolve));
  const job = new JobBinding(opts.log, opts.signal, () => void container.stop({ t: 5 }).catch(() => undefined));
  const remove = () => container.remove({ force: true }).catch(() => undefined);
  const onLine = (line: string) => {
    if (mark !== undefined && line === mark) {
      muted = true;
      return marked();
    }
    if (!muted) job.log(line);
  };
  try {
    const io = await attach(docker, container, onLine, waits);
    // 'next-exit': the default answers at once for a container not yet started.
    const exited = container.wait({ condition: 'next-exit' }) as Promise<{ StatusCode?: number }>;
    await container.start();
    const procs = cgroupProcsOfContainer(container);
    const byEngine = exited.then(async ({ StatusCode: code }) => {
      await io.ended;
      return code ?? 1;
    });
    // The engine says a container exited only after taking its network and mounts down. The
    // runner's mark (its outcome is written, it exits next) and then an empty cgroup say it
    // sooner: once the runner is gone its init ends, and the kernel ends whatever is left with
    // it. A mark printed by the build itself finds the runner still there: the engine's word then.
    const byMark = finished.then(async () => {
      const file = await procs;
      return file && (await emptied(file, 2000)) ? 0 : byEngine;
    });
    const done = (async () => {
      try {
        return await Promise.race([byEngine, byMark]);
      } finally {
        job.release();
      }
    })();
    byEngine.catch(() => undefined);
    // Removed after the build goes on, not before: a removal takes the engine a few hundred ms
    // here. A daemon killed before it is done leaves it to the docker driver's start to remove.
    const removed = done.then(remove, remove);
    let over = false;
    void done.finally(() => (over = true)).catch(() => undefined);
    return {
      imageId,
      send: (text, m) => {
        mark = m;
        io.stdin?.end(text);
      },
      running: () => !over,
      bind: (j) => job.bind(j),
      exited: done,
      removed: removed.then(() => undefined),
      stop: async () => {
        muted = true;
        await remove();
        await removed;
      },
    };
  } catch (err) {
    job.release();
    await remove();
    throw err;
  }
}

function createOptions(opts: ContainerMounts, name: string, user: GuestUser, request: string): Docker.ContainerCreateOptions {
  const node = ['node', path.join(P.root, 'dist', 'builder', 'container-entry.js'), request];
  const binds = [
    `${opts.buildDir}:${P.build}`,
    `${cacheVolume(opts.home, opts.app)}:${P.cache}`,
    `${opts.envDir}:${P.env}:ro`,
    `${opts.workDir}:${P.scratch}`,
    `${path.join(PACKAGE_ROOT, 'dist')}:${P.root}/dist:ro`,
    `${path.join(PACKAGE_ROOT, 'package.json')}:${P.root}/package.json:ro`,
    `${nodeModulesDir()}:${P.root}/node_modules:ro`,
    `${opts.builtinDir}:${P.root}/buildpacks:ro`,
  ];
  if (opts.extraCaBundle && fs.existsSync(opts.extraCaBundle)) binds.push(`${opts.extraCaBundle}:${CONTAINER_CA}:ro`);
  const { HostConfig } = confinement(user, BUILD_LIMITS);
  const waits = request === '-';
  return {
    name,
    Image: opts.image ?? STACK_IMAGE,
    Cmd: asGuestUser(node, user),
    WorkingDir: P.build,
    Env: PASS_THROUGH.filter((k) => process.env[k]).map((k) => `${k}=${process.env[k]}`),
    Labels: { [LABEL.app]: opts.app, [LABEL.role]: 'build', [LABEL.home]: opts.home },
    ...(waits ? { OpenStdin: true, StdinOnce: true, AttachStdin: true } : {}),
    // Root needs three capabilities for the first line of asGuestUser's script; setpriv leaves none after it.
    HostConfig: { ...HostConfig, CapAdd: ['CHOWN', 'SETUID', 'SETGID'], Init: true, Binds: binds, Tmpfs: hidden(opts.buildDir) },
  };
}

/** An editable app's build dir is its work tree: the server's git repository in it is not the build's to see or change. */
function hidden(buildDir: string): Record<string, string> {
  return Object.fromEntries(SERVER_OWNED.filter((e) => isDir(path.join(buildDir, e))).map((e) => [`${P.build}/${e}`, 'ro,size=4k']));
}

/**
 * The buildpacks (and the app's own build scripts they run) run as the app's
 * user, as its processes do. The container starts as root only to hand that
 * user the cache volume (the engine creates volumes root-owned; handed over
 * whole once) and to name it `app` in the container's own /etc (as every
 * guest does, guest/identity.ts: the stack image holds system accounts only),
 * then `setpriv` drops to it, which leaves no capability; with
 * `no-new-privileges` none comes back.
 */
function asGuestUser(argv: string[], user: GuestUser): string[] {
  const drop = [
    '[ "$(stat -c %u:%g /tmp/cache)" = "$1:$2" ] || chown -R "$1:$2" /tmp/cache || exit 1',
    `printf '%s\\n' "$3" >> /etc/passwd && printf '%s\\n' "$4" >> /etc/group || exit 1`,
    'u=$1 g=$2 && shift 4',
    'exec setpriv --reuid="$u" --regid="$g" --clear-groups --inh-caps=-all -- "$@"',
  ].join('\n');
  const own = appAccount(user);
  return ['sh', '-c', drop, 'slipway-build', String(user.uid), String(user.gid), own.passwd, own.group, ...argv];
}

/** Where Slipway's dependencies are (the runner needs `yaml`), with symlinks resolved so the mount holds real files. */
export function nodeModulesDir(): string {
  const entry = createRequire(import.meta.url).resolve('yaml');
  const marker = `${path.sep}node_modules${path.sep}`;
  return fs.realpathSync(entry.slice(0, entry.lastIndexOf(marker) + marker.length - 1));
}

/** Streams the container's output lines as they come; `ended` settles once its output is over. `stdin` when asked for. */
async function attach(
  docker: Docker,
  container: Docker.Container,
  log: (line: string) => void,
  withStdin: boolean,
): Promise<{ ended: Promise<void>; stdin?: Writable }> {
  const stream = (await container.attach({
    stream: true,
    stdout: true,
    stderr: true,
    stdin: withStdin,
    hijack: true,
  })) as unknown as Duplex;
  const out = new PassThrough();
  const err = new PassThrough();
  docker.modem.demuxStream(stream, out, err);
  splitLines(out, log);
  splitLines(err, log);
  const drained = Promise.all([out, err].map((s) => new Promise((resolve) => s.on('end', resolve))));
  const ended = new Promise<void>((resolve) => {
    const done = () => {
      out.end();
      err.end();
      void drained.then(() => resolve());
    };
    stream.on('end', done);
    stream.on('close', done);
    stream.on('error', done);
  });
  return { ended, stdin: withStdin ? stream : undefined };
}

export async function readOutcome(file: string, exitCode: number): Promise<BuildResult> {
  // Written by the runner as the app's user, in a dir the build could write: read as any file of the app.
  let text: string | undefined;
  try {
    text = readAppFile(path.dirname(file), path.basename(file), 16 * APP_FILE_MAX_BYTES);
  } catch {
    text = undefined;
  }
  if (text === undefined) {
    throw new BuildError(`the build container exited with status ${exitCode} before the buildpacks finished`, {
      exitCode,
      hint: 'read the build output above; `slipway stack:build --force` rebuilds a broken stack image',
    });
  }
  const outcome = JSON.parse(text) as ContainerBuildOutcome;
  if (!outcome.ok) {
    const { message, ok: _ok, ...ctx } = outcome;
    throw new BuildError(message, ctx);
  }
  return { buildpacks: outcome.buildpacks, processTypes: outcome.processTypes, configVars: outcome.configVars };
}
