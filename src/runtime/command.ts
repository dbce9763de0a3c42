import type { InstanceSpec } from './driver.js';

/** Sourced before every process: buildpacks' `.profile.d` scripts (see LAUNCHER). */
const PROFILE = ['set -a', 'for f in .profile.d/*.sh; do [ -r "$f" ] && . "$f"; done', 'unset f', 'set +a'];

/**
 * The launcher every instance runs as `bash -c LAUNCHER <name> <command>`.
 *
 * It is a fixed string: the Procfile command arrives as `$1` and is handed to a
 * fresh `bash -c`, so it is the app's own shell line (pipes, `&&`, `$VARS` work
 * as on Heroku) but nothing of it is ever spliced into our script.
 *
 * - `.profile.d/*.sh` are sourced first, as Heroku does, so buildpacks can put
 *   their runtimes on PATH. `set -a` exports what they assign, so plain
 *   `FOO=bar` lines reach the app too, not only `export FOO=bar` ones.
 * - `exec bash -c "$1"` rather than `eval "exec $1"`: `exec` cannot run
 *   `FOO=1 node x` or `cd sub && npm start`, while a new bash execs a simple
 *   command by itself, so the pid we hold is usually the app's own. When it is
 *   not (compound commands, `npm start` forking node) the process group still
 *   covers everything.
 */
export const LAUNCHER = [...PROFILE, 'exec bash -c "$1"'].join('\n');

/**
 * The launcher of `run` and `enter`: the same `.profile.d` prelude, then
 * `exec "$@"`, so the user's argv runs as given, word for word, with no
 * second round of shell parsing (`run app -- ls 'a b'` lists one file).
 */
export const EXEC_LAUNCHER = [...PROFILE, 'exec -- "$@"'].join('\n');

/** argv for `spawn('bash', …)`; `$0` names the process in `ps` and error messages. */
export function launcherArgs(spec: InstanceSpec): string[] {
  return ['-c', LAUNCHER, `slipway-${spec.app}-${spec.type}.${spec.index}`, spec.command];
}

/** argv for `spawn('bash', …)` running `argv` after `.profile.d`; `dyno` is e.g. `run.3`. */
export function execLauncherArgs(app: string, dyno: string, argv: string[]): string[] {
  return ['-c', EXEC_LAUNCHER, `slipway-${app}-${dyno}`, ...argv];
}

export interface EnvInput {
  /** One-off processes (`run.N`) pass the same fields as instances. */
  spec: Pick<InstanceSpec, 'app' | 'release' | 'type' | 'index' | 'releaseDir' | 'dataDir' | 'env'>;
  /** Set for `web` instances only. */
  port?: number;
  /** The daemon's PATH; nothing else of the daemon's environment leaks in. */
  path?: string;
}

/**
 * A clean environment, as a dyno gets: the daemon's own variables (tokens,
 * SLIPWAY_HOME, SSH agent …) must not reach app code. Config vars may override
 * PATH, HOME and LANG, but never the variables the platform owns (PORT, DYNO,
 * SLIPWAY_*): an app must not be able to listen on a port the router does not
 * send traffic to.
 */
export function instanceEnv(input: EnvInput): Record<string, string> {
  const { spec, port } = input;
  const env: Record<string, string> = {
    PATH: input.path ?? process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: spec.releaseDir,
    LANG: 'C.UTF-8',
    ...spec.env,
    DYNO: `${spec.type}.${spec.index}`,
    SLIPWAY_APP: spec.app,
    SLIPWAY_RELEASE: `v${spec.release}`,
    SLIPWAY_DATA_DIR: spec.dataDir,
  };
  if (port !== undefined) env.PORT = String(port);
  return env;
}

export function instanceId(spec: Pick<InstanceSpec, 'app' | 'release' | 'type' | 'index'>): string {
  return `${spec.app}.v${spec.release}.${spec.type}.${spec.index}`;
}
