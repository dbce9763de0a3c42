import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { BuildOptions, BuildResult } from '../builder/buildpacks.js';
import { nodeModulesDir, readOutcome } from '../builder/container-build.js';
import { IN_CONTAINER as P, type ContainerBuildRequest } from '../builder/container-paths.js';
import { runStreaming } from '../builder/run-streaming.js';
import { ownTree } from '../guest/ownership.js';
import { BUILD_LIMITS } from '../guest/users.js';
import { PACKAGE_ROOT } from '../paths.js';
import type { App } from '../store/index.js';
import type { Services } from './context.js';

/**
 * A host build in one guest, as the app's own user: the same runner as a
 * container build (builder/container-entry.ts), with the same paths inside
 * (the source at /tmp/build, Slipway's runner read-only at /opt/slipway), on
 * the host's own node. One guest for the whole build rather than one per
 * buildpack step: a guest costs a few milliseconds to start, and a build has
 * a dozen steps. Undefined when it cannot be used (no guests, or a node
 * outside /usr that a guest would not see); the caller then builds with a
 * sandbox per step or on the host.
 */
export async function buildInGuest(services: Services, app: App, jobId: number, opts: BuildOptions): Promise<BuildResult | undefined> {
  const host = services.guestHost;
  if (!host || !services.guests || !process.execPath.startsWith('/usr/') || namesHostPaths(opts)) return undefined;
  const user = services.guests.userOf(app);
  for (const d of [opts.cacheDir, opts.workDir]) fs.mkdirSync(d, { recursive: true });
  const outcome = path.join(opts.workDir, path.basename(P.outcome));
  await fsp.rm(outcome, { force: true });
  // The build writes its dirs; ENV_DIR it only reads, and nobody else may.
  await Promise.all([
    ownTree(opts.buildDir, user),
    ownTree(opts.cacheDir, user, { ifNeeded: true }),
    ownTree(opts.workDir, user),
    ownTree(opts.envDir, user),
  ]);
  const request: ContainerBuildRequest = {
    app: app.name,
    buildpackUrl: opts.buildpackUrl || opts.env.BUILDPACK_URL || undefined,
    sourceVersion: opts.env.SOURCE_VERSION,
    extraCaBundle: opts.extraCaBundle,
  };
  const guest = host.open({
    name: `${app.name}.build.${jobId}`,
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
  const file = path.join(opts.buildDir, '.buildpacks');
  return (
    fs.existsSync(file) &&
    fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .some((l) => local(l.trim()))
  );
}
