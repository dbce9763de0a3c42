import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { GuestHost } from '../guest/host.js';
import { readAppFile } from '../guest/app-files.js';
import { ownTree } from '../guest/ownership.js';
import { BUILD_LIMITS } from '../guest/users.js';
import { PACKAGE_ROOT } from '../paths.js';
import type { GuestUser } from '../runtime/driver.js';
import type { BuildRequest, Builder, BuildOutcome, NextBuild, WarmUp } from './builder.js';
import { BuildAgent, builtAgent } from './build-agent.js';
import { classifySpec, type BuildpackSource } from './buildpack-source.js';
import { writeEnvDir } from './build-env.js';
import { dirIds } from './dir-ids.js';
import { runBuildpacks, type BuildOptions, type BuildResult } from './buildpacks.js';
import { nodeModulesDir, readOutcome } from './container-build.js';
import { IN_CONTAINER as P, type ContainerBuildRequest } from './container-paths.js';
import { runStreaming, type Sandbox } from './run-streaming.js';

/** A build on this host, as the app's own user in one guest when it can be. */
interface HostBuild {
  app: string;
  jobId: number;
  user: GuestUser;
  guestHost: GuestHost;
  opts: BuildOptions;
  /** An admin's buildpack paths the build names (hostPaths), read once. */
  adminPaths: string[];
}

/** A build's guest started ahead of its build, with the dirs it mounts. */
interface WarmBuild {
  dirs: string;
  agent: BuildAgent;
}

/** An app's next build's guest, started after its last deploy (see HostBuilder.prepareNext). */
interface NextGuest {
  warm: WarmBuild;
  /** Its dirs by device and inode: one removed and made again since is not the one it mounts. */
  ids: string;
  expires: NodeJS.Timeout;
  /** Where the agent's own messages go: nowhere until a job takes it. */
  sink: { log: (line: string) => void };
}

/**
 * Buildpacks on this host (apps on the process driver). With guests, every
 * step of the build runs in one guest as the app's own user: the daemon
 * drives the build and the build agent (src/guest/build-agent.c) runs each
 * step in the guest (buildWithAgent). Where the agent was not built, a node
 * runs the whole build in the guest (buildInGuest), or else each step gets a
 * guest of its own (buildSandbox). A server that makes no guests (not root)
 * builds as its own user, as it said at start.
 *
 * `warmUp` starts the agent's guest as the deploy begins, so that it is up
 * when the build needs it.
 */
export class HostBuilder implements Builder {
  readonly runsBuildpacks = true;
  private readonly warm = new Map<number, WarmBuild>();
  private readonly next = new Map<string, NextGuest>();
  /** Names next builds' guests apart: one still ending never shares a cgroup with its successor. */
  private nexts = 0;

  /**
   * `guestHost`: this host's sandboxes; absent when the server is not root.
   * `agent: false` builds as where the agent was not built (a test's way to the node runner).
   * `keepWarmMs`: how long an app's next build's guest waits (0 or absent: none).
   */
  constructor(
    private readonly guestHost?: GuestHost,
    private readonly opts: { agent?: boolean; keepWarmMs?: number } = {},
  ) {}

  private agent(): boolean {
    return this.opts.agent !== false && builtAgent() !== undefined;
  }

  warmUp(w: WarmUp): void {
    if (!this.guestHost || !this.agent() || this.warm.has(w.jobId)) return;
    // Mounted by the guest as they are now: the deploy fills them in place (emptyDir) before the build.
    makeDirs(w);
    const next = this.takeNext(w.app);
    // One that ended while it waited (killed, out of memory) is not taken: the build starts its own.
    if (next && next.warm.agent.alive && next.ids === guestDirIds(w) && next.warm.dirs === dirsOf(w)) {
      next.sink.log = w.log;
      return void this.warm.set(w.jobId, next.warm);
    }
    void next?.warm.agent.close();
    // No admin's host paths: the source naming them is not there yet; a build that names one does not take this guest.
    const agent = startAgent(this.guestHost, w, []);
    this.warm.set(w.jobId, { dirs: dirsOf(w), agent });
  }

  /**
   * After a deploy, the app's next build gets its guest at once, its agent
   * waiting for steps with the dirs that build will use: the next push finds
   * it up instead of starting one as it begins (its launch is ~30 ms of CPU
   * that competes with the checkout on a small machine). Unused for
   * `keepWarmMs`, it goes. It runs nothing of the app's until a build hands
   * it a step, and a build whose dirs changed meanwhile starts its own.
   */
  prepareNext(n: NextBuild): void {
    const keepWarmMs = this.opts.keepWarmMs ?? 0;
    if (!this.guestHost || !this.agent() || keepWarmMs <= 0) return;
    void this.takeNext(n.app)?.warm.agent.close();
    makeDirs(n);
    const sink = { log: (_line: string) => undefined as void };
    const agent = startAgent(this.guestHost, { ...n, jobId: `next-${++this.nexts}`, log: (line) => sink.log(line) }, []);
    const warm = { dirs: dirsOf(n), agent };
    const expires = setTimeout(() => {
      if (this.next.get(n.app)?.warm === warm) this.next.delete(n.app);
      void agent.close();
    }, keepWarmMs);
    expires.unref();
    this.next.set(n.app, { warm, ids: guestDirIds(n), expires, sink });
  }

  /** Ends the app's next build's guest (the app is destroyed), or every app's (the server stops). */
  async forget(app?: string): Promise<void> {
    const apps = app === undefined ? [...this.next.keys()] : [app];
    await Promise.all(apps.map((a) => this.takeNext(a)?.warm.agent.close()));
  }

  private takeNext(app: string): NextGuest | undefined {
    const next = this.next.get(app);
    this.next.delete(app);
    if (next) clearTimeout(next.expires);
    return next;
  }

  /** Ends a warm build its deploy did not use (it failed before its build, or found a Dockerfile). */
  async discard(jobId: number): Promise<void> {
    const w = this.warm.get(jobId);
    this.warm.delete(jobId);
    await w?.agent.close();
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
    const adminPaths = this.guestHost && req.user ? hostPaths(opts) : [];
    // An admin's buildpack on a host path is mounted into the guest, which a warm one has not.
    const fits = warm && req.user && warm.dirs === dirsOf({ ...opts, user: req.user }) && !adminPaths.length;
    if (warm && !fits) await warm.agent.close();
    if (!this.guestHost || !req.user) return runBuildpacks(ready);
    const build = { app: req.app.name, jobId: req.jobId, user: req.user, guestHost: this.guestHost, opts: ready, adminPaths };
    if (this.agent()) return buildWithAgent(build, fits ? warm.agent : undefined);
    return (await buildInGuest(build)) ?? runBuildpacks({ ...ready, sandbox: await buildSandbox(build) });
  }
}

/**
 * The build in one guest with the agent in it: the daemon runs the
 * buildpacks (buildpacks.ts), and every step that is the app's code — its
 * buildpacks' detect, compile and release, their export files, the copies
 * and clones of buildpacks into the build's dirs — runs in the guest as the
 * app's user. The daemon itself only reads the app's files as app-files.ts
 * does, and writes nothing where the build could have put a link.
 */
async function buildWithAgent(b: HostBuild, warm?: BuildAgent): Promise<BuildResult> {
  await ownBuildDirs(b.opts, b.user);
  const agent = warm ?? startAgent(b.guestHost, { ...b.opts, jobId: b.jobId, user: b.user }, b.adminPaths);
  try {
    return await runBuildpacks({ ...b.opts, sandbox: agent });
  } finally {
    await agent.close();
  }
}

function startAgent(
  guestHost: GuestHost,
  w: Pick<WarmUp, 'app' | 'user' | 'buildDir' | 'cacheDir' | 'envDir' | 'workDir' | 'builtinDir' | 'log'> & { jobId: number | string },
  adminPaths: string[],
): BuildAgent {
  return BuildAgent.start(guestHost, {
    guest: {
      name: `${w.app}.build.${w.jobId}`,
      user: w.user,
      limits: BUILD_LIMITS,
      binds: [...buildBinds(w), ...adminPaths.map((p) => ({ path: p, writable: false }))],
      env: { PATH: '/usr/local/bin:/usr/bin:/bin', LANG: 'C.UTF-8' },
    },
    log: w.log,
  });
}

/** A build's dirs, at the same paths inside its guest as on the host. */
function buildBinds(d: Pick<BuildOptions, 'buildDir' | 'cacheDir' | 'envDir' | 'workDir' | 'builtinDir'>) {
  return [
    { path: d.buildDir, writable: true },
    { path: d.cacheDir, writable: true },
    { path: d.workDir, writable: true },
    { path: d.envDir, writable: false },
    { path: path.resolve(d.builtinDir), writable: false },
  ];
}

const nodeInGuests = () => process.execPath.startsWith('/usr/');

/** A build's dirs, made if missing (the env dir private). */
function makeDirs(d: Pick<WarmUp, 'buildDir' | 'cacheDir' | 'envDir' | 'workDir'>): void {
  for (const dir of [d.buildDir, d.cacheDir, d.workDir]) fs.mkdirSync(dir, { recursive: true });
  fs.mkdirSync(d.envDir, { recursive: true, mode: 0o700 });
}

/** The dirs a build's guest mounts, by device and inode. */
function guestDirIds(d: Pick<WarmUp, 'buildDir' | 'cacheDir' | 'envDir' | 'workDir'>): string {
  return dirIds([d.buildDir, d.cacheDir, d.envDir, d.workDir]);
}

/** The guest a build was warmed with fits the build only if it mounts the same dirs for the same user. */
function dirsOf(d: Pick<WarmUp, 'buildDir' | 'cacheDir' | 'envDir' | 'workDir' | 'builtinDir' | 'user'>): string {
  return JSON.stringify([buildBinds(d), d.user.uid, d.user.gid]);
}

/**
 * Where the agent was not built: the build in one guest, as the app's own
 * user, by the same runner as a container build (builder/container-entry.ts),
 * with the same paths inside (the source at /tmp/build, Slipway's runner
 * read-only at /opt/slipway), on the host's own node. Undefined when it
 * cannot be used (a node outside /usr that a guest would not see, or an
 * admin's buildpack on a host path, which its runner would not find).
 */
async function buildInGuest(b: HostBuild): Promise<BuildResult | undefined> {
  const { opts, user } = b;
  if (!nodeInGuests() || b.adminPaths.length) return undefined;
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
  const guest = b.guestHost.open({
    name: `${b.app}.build.${b.jobId}`,
    user,
    limits: BUILD_LIMITS,
    binds: [
      { path: opts.buildDir, target: P.build, writable: true },
      { path: opts.cacheDir, target: P.cache, writable: true },
      { path: opts.envDir, target: P.env, writable: false },
      { path: opts.workDir, target: P.scratch, writable: true },
      { path: path.join(PACKAGE_ROOT, 'dist'), target: `${P.root}/dist`, writable: false },
      { path: path.join(PACKAGE_ROOT, 'package.json'), target: `${P.root}/package.json`, writable: false },
      { path: nodeModulesDir(), target: `${P.root}/node_modules`, writable: false },
      { path: path.resolve(opts.builtinDir), target: `${P.root}/buildpacks`, writable: false },
    ],
    cwd: P.build,
    env: { PATH: '/usr/local/bin:/usr/bin:/bin', LANG: 'C.UTF-8', ...passThrough() },
    argv: [process.execPath, `${P.root}/dist/builder/container-entry.js`, JSON.stringify(request)],
  });
  const res = await runStreaming({
    command: guest.launch.command,
    args: guest.launch.args,
    cwd: '/',
    env: guest.launch.env,
    onLine: opts.log,
    signal: opts.signal,
    sandbox: { wrap: (cmd) => ({ ...cmd, kill: () => void guest.cgroup.killAll(), done: () => guest.destroy() }) },
  }).finally(() => guest.destroy());
  return readOutcome(outcome, res.exitCode ?? 1);
}

/**
 * Every buildpack step in a guest of its own, as the app's own user: it sees
 * the host's /usr and /etc, the build's own dirs, the built-in buildpacks and
 * an admin's buildpack paths (read-only), nothing else of the server.
 */
async function buildSandbox(b: HostBuild): Promise<Sandbox> {
  const { opts, user } = b;
  await ownBuildDirs(opts, user);
  const binds = [...buildBinds(opts), ...b.adminPaths.map((p) => ({ path: p, writable: false }))];
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

/** The build writes its dirs (and its HOME, made here so that it is theirs); ENV_DIR it only reads, and nobody else may. */
async function ownBuildDirs(opts: BuildOptions, user: GuestUser): Promise<void> {
  for (const d of [opts.cacheDir, path.join(opts.workDir, 'home')]) fs.mkdirSync(d, { recursive: true });
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

/**
 * The host paths (absolute, or file:// URLs) of buildpacks an admin named,
 * which the build's guest is given read-only to copy or clone them from. Read
 * as the build reads them (classifySpec), so that these are the very specs the
 * pipeline's checkBuildpacks let through only as an admin set them; a spec it
 * does not know binds nothing. A `.buildpacks` the build cannot read is left
 * for the build to report.
 */
function hostPaths(opts: Pick<BuildOptions, 'buildpackUrl' | 'env' | 'buildDir' | 'builtinDir'>): string[] {
  const explicit = opts.buildpackUrl || opts.env.BUILDPACK_URL;
  let specs: string[];
  try {
    specs = explicit ? [explicit] : (readAppFile(opts.buildDir, '.buildpacks') ?? '').split('\n').map((l) => l.trim());
  } catch {
    return [];
  }
  const dirs = specs.map((spec) => {
    let source: BuildpackSource;
    try {
      source = classifySpec(spec, opts);
    } catch {
      return undefined;
    }
    if (source.kind === 'path' && path.isAbsolute(spec)) return source.dir;
    if (source.kind === 'git' && source.url.startsWith('file://') && URL.canParse(source.url))
      return decodeURIComponent(new URL(source.url).pathname);
    return undefined;
  });
  return [...new Set(dirs.filter((d): d is string => !!d && fs.existsSync(d)))];
}
