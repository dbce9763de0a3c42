import fs from 'node:fs';
import path from 'node:path';
import type { Sandbox } from '../builder/run-streaming.js';
import { ownTree } from '../guest/ownership.js';
import { BUILD_LIMITS } from '../guest/users.js';
import type { GuestUser, Limits } from '../runtime/driver.js';
import type { App } from '../store/index.js';
import type { Services } from './context.js';

/** Who a process of `type` runs as and what it may use; empty where the server has no guests. */
export function guestOf(services: Services, app: Pick<App, 'id' | 'name'>, type: string): { user?: GuestUser; limits?: Limits } {
  const guests = services.guests;
  if (!guests) return {};
  return { user: guests.userOf(app), limits: guests.limitsOf(app.id, type) };
}

export interface BuildDirs {
  buildDir: string;
  cacheDir: string;
  envDir: string;
  workDir: string;
  builtinDir: string;
}

/**
 * Host builds run every buildpack step in a guest as the app's own user: it
 * sees the host's /usr and /etc, the build's own dirs and the built-in
 * buildpacks (read-only), nothing else of the server. Undefined when the
 * server makes no guests (not root; it said so at start).
 */
export async function buildSandbox(services: Services, app: App, jobId: number, dirs: BuildDirs): Promise<Sandbox | undefined> {
  const host = services.guestHost;
  if (!host || !services.guests) return undefined;
  const user = services.guests.userOf(app);
  for (const d of [dirs.cacheDir, dirs.workDir]) fs.mkdirSync(d, { recursive: true });
  // The build writes its dirs; ENV_DIR it only reads, and nobody else may.
  await Promise.all([
    ownTree(dirs.buildDir, user),
    ownTree(dirs.cacheDir, user, { ifNeeded: true }),
    ownTree(dirs.workDir, user),
    ownTree(dirs.envDir, user),
  ]);
  const binds = [
    { path: dirs.buildDir, writable: true },
    { path: dirs.cacheDir, writable: true },
    { path: dirs.workDir, writable: true },
    { path: dirs.envDir, writable: false },
    { path: path.resolve(dirs.builtinDir), writable: false },
  ];
  let step = 0;
  return {
    wrap(cmd) {
      const guest = host.open({
        name: `${app.name}.build.${jobId}.${++step}`,
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
