import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import type { GuestUser, InstanceSpec, Limits } from '../driver.js';
import type { PortAllocator } from '../ports.js';
import { handOver, ownScratch, ownedDirs, removeGuest } from '../../docker/guest.js';
import { ensureSlots, mountOverlay, mountedAt } from '../../docker/slots.js';
import { imageIdOf } from '../../docker/engine.js';
import { standbyCreateOptions, type GuestOptions } from './container-spec.js';
import type { IdentityFiles } from './identity.js';

const run = promisify(execFile);

/**
 * What a standby runs until its release arrives: it waits on its fifo, then
 * runs the instance's command in /app with exactly the instance's
 * environment (`env -i`: nothing of the standby's own). The files it reads
 * are the daemon's, mounted read-only. Restarted by the engine after it took
 * its release (a crash), it finds them and runs the command at once.
 */
export const STANDBY_AGENT = [
  '[ -e /.slipway/argv ] || read -r _ < /.slipway/go',
  '[ -e /.slipway/argv ] || exit 70',
  'cd /app || exit 70',
  "mapfile -d '' -t e < /.slipway/env",
  "mapfile -d '' -t a < /.slipway/argv",
  // HOSTNAME: the one variable of the engine's a container started for the instance would also have.
  'exec /usr/bin/env -i -- HOSTNAME="$HOSTNAME" "${e[@]}" "${a[@]}"',
].join('\n');

/** What a standby was made for: an instance that differs in any of these starts cold. */
export interface StandbyFit {
  user: GuestUser;
  limits: Limits;
  dataDir: string;
}

export interface Standby {
  app: string;
  fit: string;
  name: string;
  containerId: string;
  port: number;
  /** `$SLIPWAY_HOME/run/docker/<name>`: the overlay's upper and work dirs, and `ctl/` (the agent's files). */
  scratch: string;
  /** The host mount point bound at /app (see slots.ts). */
  slot: string;
  user: GuestUser;
  /** The stack image it runs, by id: the tag may name another by the time it is taken. */
  imageId?: string;
}

export interface StandbysOptions {
  docker: Docker;
  guest: GuestOptions;
  scratchRoot: string;
  ports: PortAllocator;
  /** How long a standby waits for its release before it is removed. */
  keepMs: number;
  log: (msg: string) => void;
  /** The passwd and group files its user sees, as every stack guest's. */
  identity?: IdentityFiles;
}

/**
 * Standby containers: the docker driver's head start for an app's next
 * deploy. Starting a container costs this engine 300–500 ms; a standby is
 * started after a deploy, idle, and the next release's first web instance
 * takes it over (its overlay mounted from the host, its command and
 * environment handed over through the agent's files) instead of waiting for
 * a new container. One per app; only for stack (buildpack) releases; only
 * on a root server (mounting needs it). Anything unexpected — a standby
 * that died, that no longer fits, a failed mount — and the instance starts
 * cold, as before.
 */
export class Standbys {
  private readonly byApp = new Map<string, Standby & { timer: NodeJS.Timeout }>();
  private readonly making = new Map<string, Promise<void>>();
  private slots?: Promise<string | undefined>;

  constructor(private readonly opts: StandbysOptions) {}

  static fitOf(f: StandbyFit): string {
    return JSON.stringify([f.user.uid, f.user.gid, f.limits, path.resolve(f.dataDir)]);
  }

  /** Starts a standby for `spec`'s app unless one that fits is waiting or being made. */
  prepare(spec: Pick<InstanceSpec, 'app' | 'release' | 'releaseDir' | 'dataDir' | 'env' | 'image'>, fit: StandbyFit): void {
    if (this.opts.keepMs <= 0 || process.getuid?.() !== 0) return;
    const key = Standbys.fitOf(fit);
    const waiting = this.byApp.get(spec.app);
    if (this.making.has(spec.app) || waiting?.fit === key) return;
    const made = (async () => {
      if (waiting) await this.discard(spec.app);
      const standby = await this.make(spec, fit, key);
      if (!standby) return;
      // setTimeout takes at most 2^31-1 ms (~24.8 days); a longer wait would fire at once.
      const timer = setTimeout(() => void this.discard(spec.app), Math.min(this.opts.keepMs, 2 ** 31 - 1));
      timer.unref();
      this.byApp.set(spec.app, { ...standby, timer });
    })()
      .catch((err: Error) => this.opts.log(`${spec.app}: no standby container: ${err.message}`))
      .finally(() => this.making.delete(spec.app));
    this.making.set(spec.app, made);
  }

  /**
   * The app's standby if it fits (it is then the caller's); one that does not
   * fit is removed. That includes one made from a stack image the tag no
   * longer names (`stack:build --force` since): a cold container gets the new one.
   */
  async take(app: string, fit: StandbyFit): Promise<Standby | undefined> {
    const standby = this.byApp.get(app);
    if (!standby) return undefined;
    this.byApp.delete(app);
    clearTimeout(standby.timer);
    const image = await imageIdOf(this.opts.docker, this.opts.guest.image).catch(() => undefined);
    if (standby.fit === Standbys.fitOf(fit) && image !== undefined && image === standby.imageId) return standby;
    void this.remove(standby);
    return undefined;
  }

  /**
   * Hands the standby its release: the overlay on its /app, then the
   * instance's environment and argv, then the word on its fifo. Throws when
   * the agent is not waiting (the container died): the caller removes it.
   */
  async activate(standby: Standby, instanceId: string, release: string, program: { argv: string[]; env: string[] }): Promise<void> {
    await mountOverlay(standby.slot, path.resolve(release), standby.scratch);
    const ctl = path.join(standby.scratch, 'ctl');
    // Root's, beside (not in) what the container sees: whose instance it now is, for a restarted daemon.
    await fsp.writeFile(path.join(standby.scratch, 'instance'), instanceId, { mode: 0o600 });
    // argv last: its presence is what tells a restarted agent (and a restarted daemon) that it was handed over.
    await this.writeOwn(Standbys.envFile(standby.scratch), program.env, standby.user);
    await this.writeOwn(path.join(ctl, 'argv'), program.argv, standby.user);
    // Non-blocking: with nobody reading (the agent is gone), ENXIO at once instead of a hang.
    const fd = fs.openSync(path.join(ctl, 'go'), fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
    try {
      fs.writeSync(fd, 'go\n');
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Where the environment handed to a standby is kept, for `enter` (a `docker exec` gets the engine's record, not this). */
  static envFile(scratch: string): string {
    return path.join(scratch, 'ctl', 'env');
  }

  static async readEnv(file: string): Promise<string[]> {
    return (await fsp.readFile(file, 'utf8')).split('\0').filter((e) => e !== '');
  }

  /**
   * For a standby container left by an earlier daemon: the instance it took
   * over, if it did and still runs it (its scratch dir its own, its release
   * still mounted: not after a reboot); else undefined, and it only waited.
   */
  static async takenBy(containerId: string, labels: Record<string, string>, scratchRoot: string): Promise<string | undefined> {
    const { scratch, slot } = await ownedDirs(containerId, labels, scratchRoot);
    if (!scratch || !slot || !fs.existsSync(path.join(scratch, 'ctl', 'argv')) || !mountedAt(slot)) return undefined;
    return (await fsp.readFile(path.join(scratch, 'instance'), 'utf8').catch(() => '')) || undefined;
  }

  /** Removes the standby of `app`, or every one (the server stops). */
  async forget(app?: string): Promise<void> {
    const apps = app === undefined ? [...new Set([...this.byApp.keys(), ...this.making.keys()])] : [app];
    await Promise.all(apps.map((a) => this.discard(a)));
  }

  /** Removes a standby the caller took and could not use. */
  async remove(standby: Standby): Promise<void> {
    await removeGuest(this.opts.docker, standby.containerId || standby.name, this.opts.scratchRoot, standby).then(
      // Only once the engine let go of it (its proxy may still hold it otherwise).
      () => standby.port && this.opts.ports.release(standby.port),
      (err: Error) => this.opts.log(`${standby.app}: standby ${standby.name}: ${err.message}`),
    );
  }

  private async discard(app: string): Promise<void> {
    await this.making.get(app);
    const standby = this.byApp.get(app);
    if (!standby) return;
    this.byApp.delete(app);
    clearTimeout(standby.timer);
    await this.remove(standby);
  }

  private async make(
    spec: Pick<InstanceSpec, 'app' | 'release' | 'releaseDir' | 'dataDir' | 'env' | 'image'>,
    fit: StandbyFit,
    key: string,
  ): Promise<Standby | undefined> {
    this.slots ??= ensureSlots(this.opts.guest.home).catch((err: Error) => {
      this.opts.log(`standby containers are off: cannot mount their shared tmpfs (${err.message})`);
      return undefined;
    });
    const slots = await this.slots;
    if (!slots) return undefined;
    const name = `slipway-${this.opts.guest.home}-${spec.app}-standby-${randomUUID().slice(0, 8)}`;
    const scratch = path.join(this.opts.scratchRoot, name);
    const slot = path.join(slots, name);
    const ctl = path.join(scratch, 'ctl');
    await fsp.mkdir(this.opts.scratchRoot, { recursive: true, mode: 0o700 });
    const standby: Standby = { app: spec.app, fit: key, name, containerId: '', port: 0, scratch, slot, user: fit.user };
    try {
      await fsp.mkdir(scratch, { mode: 0o700 });
      await fsp.mkdir(path.join(scratch, 'upper'), { mode: 0o700 });
      await fsp.mkdir(path.join(scratch, 'work'), { mode: 0o700 });
      // The overlay's root takes the upper dir's owner: /app itself must be the app's to create files in.
      await handOver(path.join(scratch, 'upper'), fit.user, { recursive: false });
      // The daemon's dir (the app may not swap its files), mounted read-only; what is in it is the app's to read.
      await fsp.mkdir(ctl, { mode: 0o755 });
      await run('mkfifo', ['-m', '0600', path.join(ctl, 'go')]);
      await fsp.chown(path.join(ctl, 'go'), fit.user.uid, fit.user.gid);
      await fsp.mkdir(slot, { mode: 0o755 });
      standby.port = await this.opts.ports.allocate();
      const confined = { user: fit.user, limits: fit.limits, scratch, identity: await this.opts.identity?.filesFor(fit.user) };
      const container = await this.opts.docker.createContainer(
        standbyCreateOptions(spec, { name, port: standby.port, slot, ctl, agent: STANDBY_AGENT }, confined, this.opts.guest),
      );
      standby.containerId = container.id;
      await ownScratch(scratch, container.id);
      standby.imageId = (await container.inspect()).Image;
      await container.start();
      return standby;
    } catch (err) {
      await this.remove(standby);
      throw err;
    }
  }

  /** Writes NUL-separated entries, readable by the guest's user only (config vars are secrets). */
  private async writeOwn(file: string, entries: string[], user: GuestUser): Promise<void> {
    const tmp = `${file}.${process.pid}.tmp`;
    await fsp.writeFile(tmp, entries.map((e) => `${e}\0`).join(''), { mode: 0o400 });
    await fsp.chown(tmp, user.uid, user.gid);
    await fsp.rename(tmp, file);
  }
}
