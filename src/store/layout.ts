import path from 'node:path';
import os from 'node:os';

/**
 * Where everything lives under $SLIPWAY_HOME. One place computes paths so that
 * no other module joins user-supplied names onto directories by itself.
 */
export class Layout {
  constructor(readonly home: string) {}

  static defaultHome(): string {
    return process.env.SLIPWAY_HOME || path.join(os.homedir(), '.slipway');
  }

  get db() {
    return path.join(this.home, 'slipway.db');
  }
  get hostKey() {
    return path.join(this.home, 'ssh_host_ed25519_key');
  }
  get controlSocket() {
    return path.join(this.home, 'control.sock');
  }
  get reposDir() {
    return path.join(this.home, 'repos');
  }
  get appsDir() {
    return path.join(this.home, 'apps');
  }
  get runDir() {
    return path.join(this.home, 'run');
  }
  /** The FIFOs of pushes in progress, one dir per push (daemon/hook-pipes.ts). */
  get pushPipes() {
    return path.join(this.runDir, 'pushes');
  }

  repo(app: string) {
    return path.join(this.reposDir, `${app}.git`);
  }
  app(app: string) {
    return path.join(this.appsDir, app);
  }
  build(app: string) {
    return path.join(this.app(app), 'build');
  }
  cache(app: string) {
    return path.join(this.app(app), 'cache');
  }
  env(app: string) {
    return path.join(this.app(app), 'env');
  }
  /** API uploads and fetched artifacts, kept only while their deploy runs. */
  uploads(app: string) {
    return path.join(this.app(app), 'uploads');
  }
  /** A build's scratch space: buildpack copies and clones, the buildpacks' HOME. */
  scratch(app: string) {
    return path.join(this.app(app), 'tmp');
  }
  /** Records of the build, hook and one-off process groups a crashed daemon's successor must end. */
  get orphansDir() {
    return path.join(this.runDir, 'orphans');
  }
  releases(app: string) {
    return path.join(this.app(app), 'releases');
  }
  release(app: string, version: number) {
    return path.join(this.releases(app), `v${version}`);
  }
  current(app: string) {
    return path.join(this.releases(app), 'current');
  }
  archives(app: string) {
    return path.join(this.app(app), 'archives');
  }
  data(app: string) {
    return path.join(this.app(app), 'data');
  }
  backups(app: string) {
    return path.join(this.app(app), 'backups');
  }
  logs(app: string) {
    return path.join(this.app(app), 'logs');
  }
  jobLog(app: string, jobId: number) {
    return path.join(this.logs(app), 'jobs', `${jobId}.log`);
  }
}
