import { chmod, cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BuildOptions } from '../../src/builder/buildpacks.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BUILTIN_DIR = path.join(REPO, 'buildpacks');
export const EXAMPLES = path.join(REPO, 'examples');
/** The host's bundle, which includes the TLS-intercepting proxy's CA in this environment. */
export const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

const made: string[] = [];

export async function tempDir(prefix = 'slipway-build-'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** Removes every temp dir made so far; call from an `after` hook. */
export async function cleanup(): Promise<void> {
  await Promise.all(made.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}

export interface Sandbox {
  root: string;
  lines: string[];
  /** Options for a build of `root/build`, with every line also collected into `lines`. */
  opts(extra?: Partial<BuildOptions>): BuildOptions;
  buildDir: string;
  cacheDir: string;
  envDir: string;
}

/** A fresh app layout in a temp dir, the source optionally copied from `examples/<name>`. */
export async function sandbox(example?: string): Promise<Sandbox> {
  const root = await tempDir();
  const buildDir = path.join(root, 'build');
  if (example) await cp(path.join(EXAMPLES, example), buildDir, { recursive: true });
  else await mkdir(buildDir);
  const lines: string[] = [];
  const sb: Sandbox = {
    root,
    lines,
    buildDir,
    cacheDir: path.join(root, 'cache'),
    envDir: path.join(root, 'env'),
    opts: (extra = {}) => ({
      app: 'testapp',
      buildDir,
      cacheDir: sb.cacheDir,
      envDir: sb.envDir,
      env: {},
      builtinDir: BUILTIN_DIR,
      workDir: path.join(root, 'work'),
      extraCaBundle: CA_BUNDLE,
      log: (line) => lines.push(line),
      ...extra,
    }),
  };
  return sb;
}

/** Writes an executable bash script (with `set -euo pipefail`) for a test buildpack. */
export async function script(file: string, body: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, `#!/usr/bin/env bash\nset -euo pipefail\n${body}\n`);
  await chmod(file, 0o755);
}

/** Makes a buildpack directory from bash bodies of bin/detect, bin/compile and bin/release. */
export async function makeBuildpack(dir: string, bins: { detect?: string; compile?: string; release?: string }): Promise<string> {
  for (const [name, body] of Object.entries(bins)) {
    if (body !== undefined) await script(path.join(dir, 'bin', name), body);
  }
  return dir;
}
