import { cp, rm, mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
// The modules themselves, not the egress index: a build in a guest starts a fresh node, and the index loads http, https and crypto.
import { gitTransport } from '../egress/git.js';
import { DEFAULT_EGRESS, shownUrl, type EgressSettings } from '../egress/policy.js';
import { invalid } from '../errors.js';
import { readAppFile } from '../guest/app-files.js';
import { BuildError } from './build-error.js';
import { runStreaming, type Sandbox } from './run-streaming.js';

/** The built-ins tried, in this order, when an app names no buildpack. */
export const BUILTIN_ORDER = ['nodejs', 'python', 'static', 'procfile'] as const;

/** What each built-in looks for; shown when nothing was detected. */
export const BUILTIN_LOOKS_FOR: Record<string, string> = {
  nodejs: 'package.json',
  python: 'requirements.txt, setup.py, pyproject.toml, app.py or main.py',
  static: 'index.html or public/index.html (without package.json)',
  procfile: 'a Procfile',
};

/** A buildpack ready to run: a private copy under the build's work dir, or (in a guest) a built-in where it is. */
export interface Buildpack {
  /** As the user wrote it: builtin name, path or URL. */
  spec: string;
  /** Short name for messages: `nodejs`, or the repository/folder name. */
  name: string;
  dir: string;
  /** A built-in run where it is (read-only in the guest): not the build's own, so no export file of it counts. */
  shared?: true;
}

export type BuildpackSource =
  | { kind: 'builtin'; name: string; dir: string }
  | { kind: 'path'; name: string; dir: string }
  | { kind: 'git'; name: string; url: string; ref?: string };

const GIT_URL = /^(https?|git|ssh|file):\/\/|^[\w.-]+@[\w.-]+:/;

/**
 * Works out where a buildpack spec points. Relative paths are resolved
 * against the app's source, so a `.buildpacks` file can name a buildpack
 * that ships inside the repository.
 */
export function classifySpec(spec: string, opts: { builtinDir: string; buildDir: string }): BuildpackSource {
  const builtin = /^(?:heroku\/)?([a-z0-9][a-z0-9-]*)$/.exec(spec)?.[1];
  if (builtin && (BUILTIN_ORDER as readonly string[]).includes(builtin)) {
    return { kind: 'builtin', name: builtin, dir: path.join(opts.builtinDir, builtin) };
  }
  if (GIT_URL.test(spec)) {
    const hash = spec.lastIndexOf('#');
    const url = hash === -1 ? spec : spec.slice(0, hash);
    const ref = hash === -1 ? undefined : spec.slice(hash + 1) || undefined;
    const name =
      url
        .replace(/\/+$/, '')
        .split(/[/:]/)
        .pop()!
        .replace(/\.git$/, '') || 'buildpack';
    return { kind: 'git', name, url, ref };
  }
  if (path.isAbsolute(spec) || spec.startsWith('./') || spec.startsWith('../')) {
    const dir = path.resolve(opts.buildDir, spec);
    return { kind: 'path', name: path.basename(dir), dir };
  }
  throw invalid(
    `unknown buildpack ${JSON.stringify(spec)}`,
    `use a built-in (${BUILTIN_ORDER.join(', ')}), an absolute path, or a git URL (https://…, file://…, optionally #ref)`,
  );
}

/** The specs listed in the source's `.buildpacks` file, or undefined when there is none. */
export async function readBuildpacksFile(buildDir: string): Promise<string[] | undefined> {
  const text = readAppFile(buildDir, '.buildpacks');
  if (text === undefined) return undefined;
  const specs = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  if (specs.length === 0) throw invalid('.buildpacks lists no buildpack', 'put one buildpack per line, or delete the file to auto-detect');
  return specs;
}

export interface MaterializeOptions {
  builtinDir: string;
  buildDir: string;
  /** Copies and clones go to `workDir/buildpacks/<index>-<name>`. */
  workDir: string;
  index: number;
  /** Environment for `git clone` (already clean, with the CA variables). */
  env: Record<string, string>;
  log: (line: string) => void;
  signal?: AbortSignal;
  /** Timeouts for git clones; default the egress defaults. */
  egress?: Pick<EgressSettings, 'connectTimeoutMs' | 'idleTimeoutMs' | 'totalTimeoutMs'>;
  /**
   * The build's guest: copies and clones are made there, as the app's user.
   * The work dir is the app's, and a step of its build may have put a link
   * where the daemon would write.
   */
  sandbox?: Sandbox;
}

/**
 * Gives the build its own copy of the buildpack. Outside a guest, copying even
 * built-ins matters: buildpacks write an `export` file into their own
 * directory, and two apps building at once must not read each other's.
 */
export async function materialize(spec: string, opts: MaterializeOptions): Promise<Buildpack> {
  const source = classifySpec(spec, opts);
  // Every guest mounts the built-ins read-only, so there a built-in's own dir cannot take
  // an export file (none of them writes one): it runs where it is. The copy it spares is
  // six processes in the guest, and each later look for its files (bin/release, export)
  // one more, on the way of every deploy.
  if (opts.sandbox && source.kind === 'builtin') return { spec, name: source.name, dir: source.dir, shared: true };
  const dest = path.join(opts.workDir, 'buildpacks', `${opts.index}-${source.name}`);
  if (opts.sandbox) return materializeIn(opts.sandbox, spec, source, dest, opts);
  await rm(dest, { recursive: true, force: true });
  await mkdir(path.dirname(dest), { recursive: true });
  if (source.kind === 'git') {
    await gitClone(source, dest, opts);
  } else {
    const isDir = await stat(source.dir).then(
      (s) => s.isDirectory(),
      () => false,
    );
    if (!isDir)
      throw new BuildError(`${source.name} buildpack: ${source.dir} is not a directory`, { buildpack: source.name, step: 'fetch' });
    await cp(source.dir, dest, { recursive: true, filter: (src) => path.basename(src) !== '.git' });
  }
  await rm(path.join(dest, 'export'), { force: true });
  return { spec, name: source.name, dir: dest };
}

/**
 * The copy made in the build's guest. The scripts are fixed, their paths come
 * as arguments (the destination first): `prepare` empties the destination for
 * a clone, `tidy` drops what must not come along, and `copy` does both around
 * copying a directory (following a link given as the source, as a user would
 * expect of a path).
 */
const PREPARE = 'rm -rf -- "$1" && mkdir -p -- "$(dirname -- "$1")"';
const TIDY = 'rm -rf -- "$1/.git" "$1/export"';
const SCRIPTS = {
  prepare: PREPARE,
  tidy: TIDY,
  copy: `[ -d "$2" ] || exit 3; ${PREPARE} && cp -RH --preserve=mode -- "$2" "$1" && ${TIDY}`,
};

async function materializeIn(
  sandbox: Sandbox,
  spec: string,
  source: BuildpackSource,
  dest: string,
  opts: MaterializeOptions,
): Promise<Buildpack> {
  const sh = async (script: keyof typeof SCRIPTS, args: string[]) => {
    const res = await runStreaming({
      command: 'sh',
      args: ['-c', SCRIPTS[script], `slipway-${script}`, ...args],
      cwd: opts.workDir,
      env: opts.env,
      onLine: (l) => opts.log(`       ${l}`),
      signal: opts.signal,
      sandbox,
    });
    if (res.aborted) throw new BuildError(`${source.name} buildpack: fetch aborted`, { buildpack: source.name, step: 'fetch' });
    return res.exitCode;
  };
  const failed = (what: string) => new BuildError(`${source.name} buildpack: ${what}`, { buildpack: source.name, step: 'fetch' });
  if (source.kind === 'git') {
    if ((await sh('prepare', [dest])) !== 0) throw failed('its directory could not be made');
    await gitClone(source, dest, { ...opts, sandbox });
    if ((await sh('tidy', [dest])) !== 0) throw failed('its clone could not be tidied');
  } else {
    const code = await sh('copy', [dest, source.dir]);
    if (code === 3) throw failed(`${source.dir} is not a directory`);
    if (code !== 0) throw failed(`${source.dir} could not be copied`);
  }
  return { spec, name: source.name, dir: dest };
}

async function gitClone(source: { name: string; url: string; ref?: string }, dest: string, opts: MaterializeOptions): Promise<void> {
  opts.log(`-----> Fetching buildpack ${shownUrl(source.url)}${source.ref ? `#${source.ref}` : ''}`);
  // Held to the allowed transports (file:// only for a file URL, which the pipeline let through only as an admin set it).
  const transport = gitTransport({ allowFile: source.url.startsWith('file://'), settings: opts.egress ?? DEFAULT_EGRESS });
  const total = AbortSignal.timeout(transport.timeoutMs);
  // `--` keeps a URL starting with `-` from being read as an option.
  const args = [
    ...transport.args,
    'clone',
    '--quiet',
    '--depth',
    '1',
    ...(source.ref ? ['--branch', source.ref] : []),
    '--',
    source.url,
    dest,
  ];
  const res = await runStreaming({
    command: 'git',
    args,
    cwd: opts.workDir,
    env: { ...opts.env, ...transport.env },
    onLine: (l) => opts.log(`       ${l}`),
    signal: opts.signal ? AbortSignal.any([opts.signal, total]) : total,
    sandbox: opts.sandbox,
  }).catch((cause: unknown) => {
    throw new BuildError(`${source.name} buildpack: could not run git`, {
      buildpack: source.name,
      step: 'fetch',
      command: 'git clone',
      cause,
      hint: 'install git on the server',
    });
  });
  if (res.aborted && total.aborted && !opts.signal?.aborted) {
    throw new BuildError(
      `${source.name} buildpack: ${shownUrl(source.url)} took longer than ${transport.timeoutMs / 1000}s (egress total timeout)`,
      { buildpack: source.name, step: 'fetch', command: 'git clone' },
    );
  }
  if (res.aborted)
    throw new BuildError(`${source.name} buildpack: fetch aborted`, { buildpack: source.name, step: 'fetch', command: 'git clone' });
  if (res.exitCode !== 0) {
    throw new BuildError(`${source.name} buildpack: git clone failed (exit ${res.exitCode ?? res.exitSignal})`, {
      buildpack: source.name,
      step: 'fetch',
      command: 'git clone',
      exitCode: res.exitCode ?? undefined,
      hint: `check that ${shownUrl(source.url)} is reachable${source.ref ? ` and has a branch or tag "${source.ref}"` : ''}`,
    });
  }
}
