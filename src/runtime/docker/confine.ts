import fsp from 'node:fs/promises';
import path from 'node:path';
import type { ExecRequest } from '../driver.js';
import { LABEL } from '../../docker/labels.js';
import { SERVER_OWNED, appLayer, guestUser, handOver, isDir } from '../../docker/guest.js';
import type { Confined } from './container-spec.js';
import type { IdentityFiles } from './identity.js';

type Guest = Pick<ExecRequest, 'app' | 'release' | 'releaseDir' | 'dataDir' | 'image' | 'user' | 'mounts'> & { limits: Confined['limits'] };

/** How the docker driver confines a guest before its container is created (or a standby takes its place). */
export class Confiner {
  /** Release dirs already handed to their app's user on this run of the daemon (`dir|version|uid`). */
  private readonly handed = new Set<string>();

  constructor(
    /** This server's `homeId`. */
    private readonly home: string,
    /** Where containers' /app upper layers live. */
    private readonly scratchRoot: string,
    /** The passwd and group files of stack guests. */
    private readonly identity?: IdentityFiles,
  ) {}

  /**
   * The guest's user and limits, and its /app: the release handed to that
   * user once, then an overlay of it (writable, ephemeral) — or the release
   * itself for `keepWrites`. Images hold their app, so they get neither.
   */
  async confine(g: Guest & Pick<ExecRequest, 'keepWrites'>, name: string): Promise<Confined> {
    const confined = await this.base(g);
    if (g.image) return confined;
    if (g.keepWrites) {
      confined.hide = SERVER_OWNED.filter((e) => isDir(path.join(g.releaseDir, e))).map((e) => `/app/${e}`);
      return confined;
    }
    await fsp.mkdir(this.scratchRoot, { recursive: true, mode: 0o700 });
    confined.scratch = path.join(this.scratchRoot, name);
    confined.app = await appLayer(path.resolve(g.releaseDir), confined.scratch, confined.user, {
      [LABEL.app]: g.app,
      [LABEL.home]: this.home,
      [LABEL.role]: 'app-layer',
    });
    return confined;
  }

  /** The guest's user, its data dir and mounts handed to it, and the release handed to it once (not an image's). */
  async base(g: Guest): Promise<Confined> {
    const user = guestUser(this.home, g.app, g.user);
    await fsp.mkdir(g.dataDir, { recursive: true });
    // A data dir the app's user does not own yet (new, or written before guests had users) is handed over whole, once.
    const data = await fsp.stat(g.dataDir);
    if (data.uid !== user.uid || data.gid !== user.gid) await handOver(g.dataDir, user, { recursive: true });
    for (const m of g.mounts ?? []) if (!m.readOnly) await handOver(m.path, user, { recursive: false });
    const confined: Confined = { user, limits: g.limits, mounts: g.mounts };
    if (g.image) return confined;
    confined.identity = await this.identity?.filesFor(user);
    const key = `${path.resolve(g.releaseDir)}|${g.release}|${user.uid}`;
    if (!this.handed.has(key)) {
      await handOver(g.releaseDir, user, { recursive: true, skip: SERVER_OWNED });
      this.handed.add(key);
    }
    return confined;
  }
}
