import { constants } from 'node:os';

/**
 * Variables that make git look at another repository than the one we name on
 * its command line. They leak in when the daemon itself was started from a
 * git hook or a test harness, and would then point receive-pack at the wrong
 * place, so they never reach the git processes we spawn.
 */
const REPO_LOCATING = [
  'GIT_DIR',
  'GIT_WORK_TREE',
  'GIT_INDEX_FILE',
  'GIT_OBJECT_DIRECTORY',
  'GIT_ALTERNATE_OBJECT_DIRECTORIES',
  'GIT_COMMON_DIR',
  'GIT_NAMESPACE',
  'GIT_QUARANTINE_PATH',
  'GIT_CEILING_DIRECTORIES',
  'GIT_PROTOCOL',
];

/** The daemon's environment minus repo-locating git variables, plus `extra`. */
export function gitEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of REPO_LOCATING) delete env[name];
  for (const [name, value] of Object.entries(extra)) if (value !== undefined) env[name] = value;
  return env;
}

/**
 * `GIT_PROTOCOL` comes from the client (SSH `env` request, HTTP `Git-Protocol`
 * header). Only the `key=value:key=value` shape git itself sends is passed on.
 */
export function safeGitProtocol(value: string | undefined): string | undefined {
  if (value === undefined || value.length > 256) return undefined;
  return /^[A-Za-z0-9._=:-]*$/.test(value) ? value : undefined;
}

/** A child's exit as a shell would report it: the code, or 128 + signal number. */
export function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const n = signal ? constants.signals[signal] : undefined;
  return n ? 128 + n : 1;
}
