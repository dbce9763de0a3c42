import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { GuestHost } from '../guest/host.js';
import { readAppFile } from '../guest/app-files.js';
import { ownTree } from '../guest/ownership.js';
import { BUILD_LIMITS } from '../guest/users.js';
import { PACKAGE_ROOT } from '../paths.js';
import type { GuestUser } from '../runtime/driver.js';
import type { BuildRequest, Builder, BuildOutcome, WarmUp } from './builder.js';
import { writeEnvDir } from './build-env.js';
import { runBuildpacks, type BuildOptions, type BuildResult } from './buildpacks.js';
import { nodeModulesDir, readOutcome } from './container-build.js';
import { IN_CONTAINER as P, type ContainerBuildRequest } from './container-paths.js';
import { runStreaming, type Sandbox, type StreamingResult } from './run-streaming.js';

/** A build on this host, as the app's own user in one guest when it can be. */
interface HostBuild {
  app: string;
  jobId: number;
  user: GuestUser;
  guestHost: GuestHost;
  opts: BuildOptions;
}

/** A build's guest started ahead of its build, its runner waiting on stdin for the request. */
interface WarmBuild {
  dirs: string;
  request: { resolve(text: string): void; reject(err: Error): void };
  result: Promise<StreamingResult>;
}

/**
 * Buildpacks on this host (apps on the process driver). With guests, the
 * whole build runs in one guest as the app's own user (buildInGuest); where
 * that cannot be used, each buildpack step runs in a guest of its own
 * (buildSandbox); a server that makes no guests (not root) builds as its own
 * user, as it said at start.
 *
 * The guest's runner is a fresh node, whose start is most of what a guest
 * adds to a deploy: `warmUp` starts it as the deploy begins, so that it
 * boots while the source is checked out, and the build hands it the request.
 */
export class HostBuilder implements Builder {
  readonly runsBuildpacks = true;
  private readonly warm = new Map<number, WarmBuild>();

  /** `guestHost`: this host's sandboxes; absent when the server is not root. */
  constructor(private readonly guestHost?: GuestHost) {}

  warmUp(w: WarmUp): void {
    if (!this.guestHost || !nodeInGuests() || this.warm.has(w.jobId)) return;
    // Mounted by the guest as they are now: the deploy fills them in place (emptyDir) before the build.
    for (const d of [w.buildDir, w.cacheDir, w.workDir]) fs.mkdirSync(d, { recursive: true });
    fs.mkdirSync(w.envDir, { recursive: true, mode: 0o700 });
    let request!: WarmBuild['request'];
    const input = new Promise<string>((resolve, reject) => (request = { resolve, reject }));
    input.catch(() => undefined);
    const result = startRunner(this.guestHost, w, '-', input);
    result.catch(() => undefined);
    this.warm.set(w.jobId, { dirs: dirsOf(w), request, result });
  }

  /** Ends a warm build its deploy did not use (it failed before its build, or found a Dockerfile). */
  async discard(jobId: number): Promise<void> {
    const w = this.warm.get(jobId);
    if (!w) return;
    this.warm.delete(jobId);
    await endWarm(w, 'the build did not run');
  }

  async build(req: BuildRequest): Promise<BuildOutcome> {
    const opts: BuildOptions = {
      app: req.app.name,
      buildDir: req.buildDir,
      cacheDir: req.cacheDir,
      envDir: req.envDir,
      env: req.env,
      workDir: req.workDir,
      builtinDir: req.builtinDir,
      buildpackUrl: req.buildpackUrl,
      extraCaBundle: req.extraCaBundle,
      egress: req.egress,
      log: req.log,
      signal: req.signal,
      owner: req.owner,
    };
    const warm = this.warm.get(req.jobId);
    this.warm.delete(req.jobId);
    // Written before the guest reads it (a warm one has the dir mounted), so the guest can hand ENV_DIR to the app's user.
    await writeEnvDir(opts.envDir, opts.env);
    const ready = { ...opts, envDirReady: true };
    const fits = warm && req.user && warm.dirs === dirsOf({ ...opts, user: req.user });
    if (warm && !fits) await endWarm(warm, 'the build needs another guest');
    if (!this.guestHost || !req.user) return runBuildpacks(ready);
    const build = { app: req.app.name, jobId: req.jobId, user: req.user, guestHost: this.guestHost, opts: ready };
    return (await buildInGuest(build, fits ? warm : undefined)) ?? runBuildpacks({ ...ready, sandbox: await buildSandbox(build) });
  }
}

/** A warm runner told there is no request exits; its guest is gone once this resolves. */
async function endWarm(w: WarmBuild, why: string): Promise<void> {
  w.request.reject(new Error(why));
  await w.result.catch(() => undefined);
}

const nodeInGuests = () => process.execPath.startsWith('/usr/');

/** The guest a build was warmed with fits the build only if it mounts the same dirs for the same user. */
function dirsOf(d: Pick<WarmUp, 'buildDir' | 'cacheDir' | 'envDir' | 'workDir' | 'builtinDir' | 'user'>): string {
  return JSON.stringify([d.buildDir, d.cacheDir, d.envDir, d.workDir, path.resolve(d.builtinDir), d.user.uid, d.user.gid]);
}

/**
 * A host build in one guest, as the app's own user: the same runner as a
 * container build (builder/container-entry.ts), with the same paths inside
 * (the source at /tmp/build, Slipway's runner read-only at /opt/slipway), on
 * the host's own node. One guest for the whole build rather than one per
 * buildpack step: a guest costs a few milliseconds to start, and a build has
 * a dozen steps. Undefined when it cannot be used (a node outside /usr that
 * a guest would not see, or an admin's buildpack on a host path); a warm
 * runner is then ended.
 */
async function buildInGuest(b: HostBuild, warm?: WarmBuild): Promise<BuildResult | undefined> {
  const { opts, user } = b;
  if (!nodeInGuests() || namesHostPaths(opts)) {
    if (warm) await endWarm(warm, 'the build cannot use one guest');
    return undefined;
  }
  fs.mkdirSync(opts.workDir, { recursive: true });
  const outcome = path.join(opts.workDir, path.basename(P.outcome));
  await fsp.rm(outcome, { force: true });
  await ownBuildDirs(opts, user);
  const request: ContainerBuildRequest = {
    app: b.app,
    buildpackUrl: opts.buildpackUrl || opts.env.BUILDPACK_URL || undefined,
    sourceVersion: opts.env.SOURCE_VERSION,
    extraCaBundle: opts.extraCaBundle,
  };
  let res: StreamingResult;
  if (warm) {
    warm.request.resolve(JSON.stringify(request));
    res = await warm.result;
  } else res = await startRunner(b.guestHost, { ...opts, app: b.app, jobId: b.jobId, user }, JSON.stringify(request));
  return readOutcome(outcome, res.exitCode ?? 1);
}

/** Opens a build's guest and runs the runner in it; `request` is its JSON, or `-` for one that comes as `input`. */
function startRunner(guestHost: GuestHost, w: WarmUp, request: string, input?: Promise<string>): Promise<StreamingResult> {
  const guest = guestHost.open({
    name: `${w.app}.build.${w.jobId}`,
    user: w.user,
    limits: BUILD_LIMITS,
    binds: [
      { path: w.buildDir, target: P.build, writable: true },
      { path: w.cacheDir, target: P.cache, writable: true },
      { path: w.envDir, target: P.env, writable: false },
      { path: w.workDir, target: P.scratch, writable: true },
      { path: path.join(PACKAGE_ROOT, 'dist'), target: `${P.root}/dist`, writable: false },
      { path: path.join(PACKAGE_ROOT, 'package.json'), target: `${P.root}/package.json`, writable: false },
      { path: nodeModulesDir(), target: `${P.root}/node_modules`, writable: false },
      { path: path.resolve(w.builtinDir), target: `${P.root}/buildpacks`, writable: false },
    ],
    cwd: P.build,
    env: { PATH: '/usr/local/bin:/usr/bin:/bin', LANG: 'C.UTF-8', ...passThrough() },
    argv: [process.execPath, `${P.root}/dist/builder/container-entry.js`, request],
  });
  return runStreaming({
    command: guest.launch.command,
    args: guest.launch.args,
    cwd: '/',
    env: guest.launch.env,
    onLine: w.log,
    signal: w.signal,
    input,
    sandbox: { wrap: (cmd) => ({ ...cmd, kill: () => void guest.cgroup.killAll(), done: () => guest.destroy() }) },
  }).finally(() => guest.destroy());
}

/**
 * Every buildpack step in a guest of its own, as the app's own user: it sees
 * the host's /usr and /etc, the build's own dirs and the built-in buildpacks
 * (read-only), nothing else of the server.
 */
async function buildSandbox(b: HostBuild): Promise<Sandbox> {
  const { opts, user } = b;
  await ownBuildDirs(opts, user);
  const binds = [
    { path: opts.buildDir, writable: true },
    { path: opts.cacheDir, writable: true },
    { path: opts.workDir, writable: true },
    { path: opts.envDir, writable: false },
    { path: path.resolve(opts.builtinDir), writable: false },
  ];
  let step = 0;
  return {
    wrap(cmd) {
      const guest = b.guestHost.open({
        name: `${b.app}.build.${b.jobId}.${++step}`,
        user,
        limits: BUILD_LIMITS,
        binds,
        cwd: cmd.cwd,
        env: cmd.env,
        argv: [cmd.command, ...cmd.args],
      });
      return {
        ...guest.launch,
        cwd: '/',
        kill: () => void guest.cgroup.killAll(),
        done: () => guest.destroy(),
      };
    },
  };
}

/** The build writes its dirs; ENV_DIR it only reads, and nobody else may. */
async function ownBuildDirs(opts: BuildOptions, user: GuestUser): Promise<void> {
  for (const d of [opts.cacheDir, opts.workDir]) fs.mkdirSync(d, { recursive: true });
  await Promise.all([
    ownTree(opts.buildDir, user),
    ownTree(opts.cacheDir, user, { ifNeeded: true }),
    ownTree(opts.workDir, user),
    ownTree(opts.envDir, user),
  ]);
}

/** Proxy settings reach the build as they do on the host: without them no registry is reachable. */
function passThrough(): Record<string, string> {
  const names = ['HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy'];
  return Object.fromEntries(names.filter((k) => process.env[k]).map((k) => [k, process.env[k]!]));
}

/** An admin's buildpack on a host path (or file: URL) is copied in from the host, which one guest for the build cannot see. */
function namesHostPaths(opts: BuildOptions): boolean {
  const local = (spec: string) => spec.startsWith('/') || spec.startsWith('file:');
  const explicit = opts.buildpackUrl || opts.env.BUILDPACK_URL;
  if (explicit) return local(explicit);
  return (readAppFile(opts.buildDir, '.buildpacks') ?? '').split('\n').some((l) => local(l.trim()));
}
