import fs from 'node:fs';
import { SlipwayError } from '../errors.js';
import type { GuestUser, Limits } from '../runtime/driver.js';
import type { App, Store } from '../store/index.js';

/** Heroku's standard-1X size; a build gets more room (npm, pip and compilers are hungry). */
export const DEFAULT_LIMITS: Limits = { memoryMb: 512, cpuShares: 1024, pids: 256 };
export const BUILD_LIMITS: Limits = { memoryMb: 2048, cpuShares: 1024, pids: 2048 };

/** Said at start and on `users:add` by a server that is not root: it cannot give apps users of their own. */
export const SHARED_USER_WARNING =
  "the server is not root: apps run as the server's own user and are not isolated from each other or from Slipway's data; run it as root, or use --driver docker, to isolate them";

export interface GuestUsersOptions {
  /** Inclusive uid range apps get their user from; the gid is the same number. */
  range?: [number, number];
  /** Limits of process types nobody resized. */
  defaults?: Limits;
}

/**
 * Who an app runs as and what it may use. Both drivers ask here, so an app
 * has one uid whether its guest is a sandbox or a container, and `ps:resize`
 * means the same under either.
 */
/** The uid range apps get their own user from unless the server says otherwise (`--guest-uids`). */
export const DEFAULT_GUEST_UIDS: readonly [number, number] = [70000, 169999];

export class GuestUsers {
  readonly range: [number, number];
  readonly defaults: Limits;
  private hostIds?: Set<number>;

  constructor(
    private readonly store: Store,
    opts: GuestUsersOptions = {},
  ) {
    this.range = opts.range ?? [...DEFAULT_GUEST_UIDS];
    this.defaults = opts.defaults ?? DEFAULT_LIMITS;
    const [low, high] = this.range;
    if (!Number.isInteger(low) || !Number.isInteger(high) || low < 1000 || high > 2 ** 31 - 2 || low > high) {
      throw new SlipwayError('invalid', `invalid guest uid range ${low}-${high}`, {
        status: 422,
        hint: 'use two integers from 1000 to 2147483646, low first (--guest-uids 70000-169999)',
      });
    }
  }

  /** The app's user, allocated on first use and stored for the app's life. */
  userOf(app: Pick<App, 'id' | 'name'>): GuestUser {
    const [low, high] = this.range;
    const uid = this.store.guests.allocateUid(app.id, low, high, (id) => this.onHost(id));
    if (uid === undefined) {
      throw new SlipwayError('uid_range_exhausted', `no free uid left in ${low}-${high} for ${app.name}`, {
        status: 503,
        hint: 'restart the server with a wider range: slipway server --guest-uids LOW-HIGH',
      });
    }
    return { uid, gid: uid };
  }

  /** The limits of one process type of an app: what `ps:resize` stored over the defaults. */
  limitsOf(appId: number, type: string): Limits {
    return { ...this.defaults, ...this.store.guests.limits(appId)[type] };
  }

  /** Ids the host's own users and groups hold: an app must never share one. */
  private onHost(id: number): boolean {
    this.hostIds ??= readHostIds();
    return this.hostIds.has(id);
  }
}

function readHostIds(): Set<number> {
  const ids = new Set<number>();
  for (const file of ['/etc/passwd', '/etc/group']) {
    let text = '';
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      const id = Number(line.split(':')[2]);
      if (Number.isInteger(id)) ids.add(id);
    }
  }
  return ids;
}

/** `512M`, `1G`, `1536` (MiB) → MiB. */
export function parseMemory(text: string): number | undefined {
  const m = /^(\d+)(M|MB|MI|MIB|G|GB|GI|GIB)?$/i.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  return /^g/i.test(m[2] ?? '') ? n * 1024 : n;
}
