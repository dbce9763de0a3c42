import { chmod, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { invalid } from '../errors.js';
import { runStreaming, type Sandbox } from './run-streaming.js';

/** Variables that point TLS clients at a CA bundle; a TLS-intercepting proxy needs all of them. */
export const CA_VARS = [
  'NODE_EXTRA_CA_CERTS',
  'npm_config_cafile',
  'SSL_CERT_FILE',
  'PIP_CERT',
  'REQUESTS_CA_BUNDLE',
  'GIT_SSL_CAINFO',
  'CURL_CA_BUNDLE',
] as const;

/**
 * Proxy settings are passed through from the daemon because without them a
 * buildpack on a proxied host cannot reach a package registry at all; they
 * carry no app secrets.
 */
const PASS_THROUGH = ['HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy'];

export interface BaseEnvOptions {
  /** Fake home for buildpacks, so they never read or write the daemon user's dotfiles. */
  home: string;
  extraCaBundle?: string;
  sourceVersion?: string;
  /** The daemon's environment, read for PATH, LANG and proxies only. */
  hostEnv?: NodeJS.ProcessEnv;
}

/**
 * The environment every buildpack process starts from. Deliberately small:
 * app config vars reach buildpacks through ENV_DIR (the API v2 contract), and
 * the daemon's own variables (tokens, SLIPWAY_*) must not leak into builds.
 */
export function baseEnv(opts: BaseEnvOptions): Record<string, string> {
  const host = opts.hostEnv ?? process.env;
  const env: Record<string, string> = {
    PATH: host.PATH || '/usr/local/bin:/usr/bin:/bin',
    HOME: opts.home,
    LANG: host.LANG || 'C.UTF-8',
    STACK: 'slipway-bookworm',
  };
  for (const name of PASS_THROUGH) {
    const value = host[name];
    if (value) env[name] = value;
  }
  if (opts.extraCaBundle) for (const name of CA_VARS) env[name] = opts.extraCaBundle;
  if (opts.sourceVersion) env.SOURCE_VERSION = opts.sourceVersion;
  return env;
}

const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Rewrites ENV_DIR from scratch: one file per config var, named after it, holding its value. */
export async function writeEnvDir(envDir: string, vars: Record<string, string>): Promise<void> {
  for (const name of Object.keys(vars)) {
    // The name becomes a file name: refuse anything that could escape ENV_DIR.
    if (!VAR_NAME.test(name))
      throw invalid(
        `config var name ${JSON.stringify(name)} is not valid`,
        'use letters, digits and underscores, not starting with a digit',
      );
  }
  await emptyDir(envDir, 0o700);
  for (const [name, value] of Object.entries(vars)) {
    await writeFile(path.join(envDir, name), value, { mode: 0o600 });
  }
}

/** Variables bash sets for itself; they are not something a buildpack exported. */
const SHELL_NOISE = new Set(['PWD', 'OLDPWD', 'SHLVL', '_']);

/**
 * Applies a buildpack's `export` file the way Heroku's multi-buildpack does:
 * source it with `set -a` in bash and read back the whole environment. The
 * file is passed as an argument, never spliced into the script.
 */
export async function sourceExportFile(
  file: string,
  env: Record<string, string>,
  cwd: string,
  sandbox?: Sandbox,
): Promise<Record<string, string>> {
  // A buildpack wrote this file: it is the app's code, and runs where the app's build runs.
  const res = await runStreaming({
    command: 'bash',
    args: ['-c', 'set -a; . "$1"; env -0', 'slipway-export', file],
    env,
    cwd,
    captureStdout: true,
    onLine: () => undefined,
    sandbox,
  });
  if (res.exitCode !== 0) throw new Error(`sourcing ${path.basename(file)} failed (exit ${res.exitCode ?? res.exitSignal})`);
  const stdout = res.stdout;
  const next: Record<string, string> = {};
  for (const entry of stdout.split('\0')) {
    const eq = entry.indexOf('=');
    if (eq <= 0) continue;
    const name = entry.slice(0, eq);
    if (!SHELL_NOISE.has(name)) next[name] = entry.slice(eq + 1);
  }
  return next;
}

/**
 * Makes `dir` an empty directory, emptying it in place rather than replacing
 * it: a warm build's guest (host-builder.ts) has it mounted already, and a
 * mount follows the directory, not its name.
 */
export async function emptyDir(dir: string, mode = 0o755): Promise<void> {
  await mkdir(dir, { recursive: true, mode });
  await chmod(dir, mode);
  for (const entry of await readdir(dir)) await rm(path.join(dir, entry), { recursive: true, force: true });
}
