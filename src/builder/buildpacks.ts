import { access, constants, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { BuildError, type BuildStep } from './build-error.js';
import { baseEnv, sourceExportFile, writeEnvDir } from './build-env.js';
import {
  BUILTIN_LOOKS_FOR,
  BUILTIN_ORDER,
  type Buildpack,
  type MaterializeOptions,
  materialize,
  readBuildpacksFile,
} from './buildpack-source.js';
import { readProcfile } from './procfile.js';
import { parseReleaseYaml } from './release-yaml.js';
import { runStreaming, type Sandbox, type StreamingResult } from './run-streaming.js';
import type { ChildOwner } from '../runtime/orphans.js';

export { BuildError } from './build-error.js';

export interface BuildOptions {
  app: string;
  /** The app's source, already extracted; buildpacks compile it in place. */
  buildDir: string;
  /** CACHE_DIR, kept between builds and shared by all of the app's buildpacks (as on Heroku). */
  cacheDir: string;
  /** ENV_DIR: wiped and rewritten from `env`, one file per config var. */
  envDir: string;
  /** The app's config vars. Buildpacks see them only through ENV_DIR. */
  env: Record<string, string>;
  /** ENV_DIR was already written from `env` (a container build mounts it read-only); leave it as it is. */
  envDirReady?: boolean;
  /** The repository's `buildpacks/` folder holding the built-ins. */
  builtinDir: string;
  /** Scratch space for this build: buildpack copies and clones, the buildpacks' HOME. */
  workDir: string;
  /** Per-app buildpack (`env.BUILDPACK_URL` is honoured too): a built-in name, a path, or a git URL with optional `#ref`. */
  buildpackUrl?: string;
  /**
   * A complete CA bundle (system CAs plus a TLS-intercepting proxy's), exported
   * to every buildpack process under each name common tools read.
   */
  extraCaBundle?: string;
  /** Timeouts of buildpack git clones (the server's egress settings). */
  egress?: MaterializeOptions['egress'];
  /** Receives each output line of detect/compile/release as it is printed. */
  log: (line: string) => void;
  /** Aborting kills the running buildpack process and rejects with a BuildError. */
  signal?: AbortSignal;
  /** Runs every buildpack step (and the sourcing of their `export` files) there, not as the daemon's user. */
  sandbox?: Sandbox;
  /** Marks every buildpack process, so none outlives the deploy or a crash of the daemon. */
  owner?: ChildOwner;
}

export interface BuildResult {
  /** The buildpacks that ran, as specified: built-in names, paths or URLs. */
  buildpacks: string[];
  /** The source's Procfile over the buildpacks' `default_process_types`. */
  processTypes: Record<string, string>;
  /** `config_vars` from `bin/release`, later buildpacks overriding earlier ones. */
  configVars: Record<string, string>;
}

/** What every buildpack step needs besides the buildpack itself. */
interface StepContext {
  buildDir: string;
  env: Record<string, string>;
  log: (line: string) => void;
  signal?: AbortSignal;
  sandbox?: Sandbox;
  owner?: ChildOwner;
  /** Whether a buildpack's file is there (see presence). */
  exists: (file: string) => Promise<boolean>;
}

/**
 * Builds an app with Heroku buildpack API v2 buildpacks: choose (explicit
 * URL, `.buildpacks`, or detection), then for each `bin/compile` and
 * `bin/release`, passing each buildpack's `export` on to the next.
 */
export async function runBuildpacks(opts: BuildOptions): Promise<BuildResult> {
  const home = path.join(opts.workDir, 'home');
  await Promise.all([opts.cacheDir, opts.workDir, home].map((d) => mkdir(d, { recursive: true })));
  if (!opts.envDirReady) await writeEnvDir(opts.envDir, opts.env);

  let env = baseEnv({ home, extraCaBundle: opts.extraCaBundle, sourceVersion: opts.env.SOURCE_VERSION });
  const exists = presence(opts);
  const ctx = (): StepContext => ({
    buildDir: opts.buildDir,
    env,
    log: opts.log,
    signal: opts.signal,
    sandbox: opts.sandbox,
    owner: opts.owner,
    exists,
  });
  const buildpacks = await chooseBuildpacks(opts, ctx());

  const processTypes: Record<string, string> = {};
  const configVars: Record<string, string> = {};
  for (const bp of buildpacks) {
    await compile(bp, opts, ctx());
    const exportFile = path.join(bp.dir, 'export');
    if (!bp.shared && (await ctx().exists(exportFile))) {
      env = await sourceExportFile(exportFile, env, opts.buildDir, opts.sandbox).catch((cause: unknown) => {
        throw new BuildError(`${bp.name} buildpack: its export file could not be sourced`, { buildpack: bp.name, step: 'compile', cause });
      });
    }
    const release = await releaseInfo(bp, ctx());
    Object.assign(processTypes, release.defaultProcessTypes);
    Object.assign(configVars, release.configVars);
  }
  // The app's own Procfile is the last word, as on Heroku.
  Object.assign(processTypes, await readProcfile(opts.buildDir));
  return { buildpacks: buildpacks.map((b) => b.spec), processTypes, configVars };
}

/** Explicit choices must pass their own detect (Heroku's "App not compatible with buildpack"). */
async function chooseBuildpacks(opts: BuildOptions, ctx: StepContext): Promise<Buildpack[]> {
  const explicit = opts.buildpackUrl || opts.env.BUILDPACK_URL;
  const specs = explicit ? [explicit] : await readBuildpacksFile(opts.buildDir);
  const common = {
    builtinDir: opts.builtinDir,
    buildDir: opts.buildDir,
    workDir: opts.workDir,
    env: ctx.env,
    log: opts.log,
    signal: opts.signal,
    egress: opts.egress,
    sandbox: opts.sandbox,
  };
  if (specs) {
    const chosen: Buildpack[] = [];
    for (const [index, spec] of specs.entries()) {
      const bp = await materialize(spec, { ...common, index });
      if (!(await detect(bp, ctx))) {
        throw new BuildError(`${bp.name} buildpack: app not compatible (bin/detect failed)`, {
          buildpack: bp.name,
          step: 'detect',
          command: 'bin/detect',
          hint: 'the buildpack does not recognise this app; check the files it expects, or choose another buildpack',
        });
      }
      chosen.push(bp);
    }
    return chosen;
  }
  for (const name of BUILTIN_ORDER) {
    // Detect against the shared built-in folder (detect only reads), copy only the winner.
    const shared: Buildpack = { spec: name, name, dir: path.join(opts.builtinDir, name) };
    if (await detect(shared, ctx)) return [await materialize(name, { ...common, index: 0 })];
  }
  const looksFor = BUILTIN_ORDER.map((n) => `${n}: ${BUILTIN_LOOKS_FOR[n]}`).join('; ');
  throw new BuildError('no buildpack detected for this app', {
    step: 'detect',
    hint: `add one of the files the built-ins look for (${looksFor}), or set BUILDPACK_URL / a .buildpacks file`,
  });
}

/** Runs `bin/detect`; on success logs "-----> <Name> app detected". A buildpack without one always applies. */
async function detect(bp: Buildpack, ctx: StepContext): Promise<boolean> {
  const script = path.join(bp.dir, 'bin', 'detect');
  if (!(await ctx.exists(script))) {
    ctx.log(`-----> Using buildpack ${bp.name}`);
    return true;
  }
  const res = await runStep(bp, 'detect', [ctx.buildDir], ctx, true);
  if (res.exitCode !== 0) return false;
  const display = res.stdout.split('\n')[0]?.trim() || bp.name;
  ctx.log(`-----> ${display} app detected`);
  return true;
}

async function compile(bp: Buildpack, opts: BuildOptions, ctx: StepContext): Promise<void> {
  if (!(await ctx.exists(path.join(bp.dir, 'bin', 'compile')))) {
    throw new BuildError(`${bp.name} buildpack: has no bin/compile`, {
      buildpack: bp.name,
      step: 'compile',
      hint: 'a buildpack needs bin/detect, bin/compile and bin/release',
    });
  }
  const res = await runStep(bp, 'compile', [opts.buildDir, opts.cacheDir, opts.envDir], ctx, false);
  if (res.exitCode !== 0) {
    throw new BuildError(`${bp.name} buildpack: compile failed (${exitText(res)})`, {
      buildpack: bp.name,
      step: 'compile',
      command: 'bin/compile',
      exitCode: res.exitCode ?? undefined,
      hint: 'read the build output above for the cause',
    });
  }
}

async function releaseInfo(bp: Buildpack, ctx: StepContext) {
  // bin/release is required by the API, but missing it only means "nothing to declare".
  if (!(await ctx.exists(path.join(bp.dir, 'bin', 'release')))) return { defaultProcessTypes: {}, configVars: {} };
  const res = await runStep(bp, 'release', [ctx.buildDir], ctx, true);
  const fail = (what: string, cause?: unknown) =>
    new BuildError(`${bp.name} buildpack: release ${what}`, {
      buildpack: bp.name,
      step: 'release',
      command: 'bin/release',
      exitCode: res.exitCode ?? undefined,
      cause,
    });
  if (res.exitCode !== 0) throw fail(`failed (${exitText(res)})`);
  try {
    return await parseReleaseYaml(res.stdout);
  } catch (cause) {
    throw fail(`printed invalid YAML: ${(cause as Error).message}`, cause);
  }
}

/** Spawns `bin/<step>` with an argument array and the clean env; start failures and aborts become BuildErrors. */
async function runStep(bp: Buildpack, step: BuildStep, args: string[], ctx: StepContext, captureStdout: boolean): Promise<StreamingResult> {
  const command = `bin/${step}`;
  const where = { buildpack: bp.name, step, command };
  let res: StreamingResult;
  try {
    res = await runStreaming({
      command: path.join(bp.dir, command),
      args,
      cwd: ctx.buildDir,
      env: ctx.env,
      onLine: ctx.log,
      captureStdout,
      signal: ctx.signal,
      sandbox: ctx.sandbox,
      owner: ctx.owner,
    });
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code ?? 'error';
    throw new BuildError(`${bp.name} buildpack: ${command} could not be started (${code})`, {
      ...where,
      cause,
      hint: `make ${command} executable (chmod +x) and give it a #! line`,
    });
  }
  if (res.aborted) throw new BuildError(`${bp.name} buildpack: ${step} aborted`, where);
  return res;
}

function exitText(res: StreamingResult): string {
  return res.exitCode !== null ? `exit ${res.exitCode}` : `killed by ${res.exitSignal}`;
}

/**
 * Looks for a buildpack's file where its steps run. In a sandbox, a copy the
 * build made is the app's: it may be a link to anywhere, and the daemon
 * (root) following it would tell the app whether a host path exists. The
 * shared built-ins are the server's, and are looked at directly.
 */
function presence(opts: Pick<BuildOptions, 'sandbox' | 'builtinDir' | 'buildDir'>): (file: string) => Promise<boolean> {
  const { sandbox } = opts;
  if (!sandbox) return exists;
  const builtins = path.resolve(opts.builtinDir) + path.sep;
  return async (file) => {
    if (path.resolve(file).startsWith(builtins)) return exists(file);
    const res = await runStreaming({
      command: 'test',
      args: ['-e', file],
      cwd: opts.buildDir,
      env: { PATH: '/usr/bin:/bin' },
      onLine: () => undefined,
      sandbox,
    });
    return res.exitCode === 0;
  };
}

async function exists(file: string): Promise<boolean> {
  return access(file, constants.F_OK).then(
    () => true,
    () => false,
  );
}
