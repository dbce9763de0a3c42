import fs from 'node:fs';
import type Docker from 'dockerode';
import type { GuestUser, InstanceSpec, Limits } from '../driver.js';
import { confinement } from '../../docker/guest.js';
import { CONTAINER_CA, LABEL } from '../../docker/labels.js';
import { EXEC_LAUNCHER, LAUNCHER } from '../command.js';
import { OPENSSL_CA, trustEnv } from '../ca-trust.js';

/** Port every web container listens on inside; the host side is a free loopback port. */
export const CONTAINER_PORT = 5000;
const STACK_PATH =
  '/app/.heroku/node/bin:/app/.heroku/python/bin:/app/node_modules/.bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The home is in the name too: two servers on one engine may both have an app `web`. */
export function containerName(spec: Pick<InstanceSpec, 'app' | 'release' | 'type' | 'index'>, home: string): string {
  return `slipway-${home}-${spec.app}-v${spec.release}-${spec.type}-${spec.index}`;
}

export interface GuestOptions {
  image: string;
  /** This server's `homeId`, set as the `slipway.home` label on everything it creates. */
  home: string;
  /** Host CA bundle, bind-mounted read-only and named by NODE_EXTRA_CA_CERTS and friends. */
  extraCaBundle?: string;
}

type Guest = Pick<InstanceSpec, 'app' | 'release' | 'releaseDir' | 'dataDir' | 'env' | 'image'>;

/**
 * The environment inside a guest. The pipeline hands over host paths (PATH,
 * HOME, SLIPWAY_DATA_DIR, the CA file); inside they are /app, /data and the
 * mounted bundle, so a release runs the same under either driver.
 */
export function guestEnv(spec: Guest, extra: Record<string, string>, opts: GuestOptions): string[] {
  const env: Record<string, string> = { ...spec.env };
  // A Dockerfile image keeps its own ENV PATH unless the app's config sets one.
  if (!env.PATH || env.PATH === process.env.PATH) {
    if (spec.image) delete env.PATH;
    else env.PATH = STACK_PATH;
  }
  // The pipeline's trust settings name the host's file: made again for the mounted one.
  const appNodeOptions = env.NODE_OPTIONS !== undefined && env.NODE_OPTIONS !== OPENSSL_CA;
  for (const k of ['NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE', 'npm_config_cafile', ...(appNodeOptions ? [] : ['NODE_OPTIONS'])]) delete env[k];
  if (opts.extraCaBundle) Object.assign(env, trustEnv(CONTAINER_CA, appNodeOptions), { npm_config_cafile: CONTAINER_CA });
  Object.assign(env, { HOME: '/app', SLIPWAY_APP: spec.app, SLIPWAY_RELEASE: `v${spec.release}`, SLIPWAY_DATA_DIR: '/data' }, extra);
  return Object.entries(env).map(([k, v]) => `${k}=${v}`);
}

/**
 * How one container is confined, decided by the driver before it is created:
 * its user and limits, and how the release appears at /app.
 */
export interface Confined {
  user: GuestUser;
  limits?: Limits;
  /** Stack guests: the release as a writable, ephemeral overlay (see guest.ts). */
  app?: Docker.MountSettings;
  /** Its scratch dir (the overlay's upper layer), labelled so clean-up finds it. */
  scratch?: string;
  /** Host paths the guest also sees at the same path (ExecRequest.mounts). */
  mounts?: Array<{ path: string; readOnly?: boolean }>;
  /** Paths under a writable /app covered by an empty read-only tmpfs (see guest.ts SERVER_OWNED). */
  hide?: string[];
  /** Stack guests: host files bound read-only as /etc/passwd and /etc/group, naming the user `app` (identity.ts). */
  identity?: { passwd: string; group: string };
}

/**
 * The data dir writable at /data — and at its host path too, where the
 * release's `data` symlink points, so `/app/data` works as it does under the
 * process driver. `keepWrites` one-offs (predeploy) get the release itself
 * writable at /app instead of an overlay.
 */
export function guestBinds(spec: Guest & { keepWrites?: boolean }, confined: Confined, opts: GuestOptions): string[] {
  const binds = [
    ...(spec.keepWrites && !spec.image ? [`${spec.releaseDir}:/app`] : []),
    `${spec.dataDir}:/data`,
    `${spec.dataDir}:${spec.dataDir}`,
  ];
  for (const m of confined.mounts ?? []) binds.push(`${m.path}:${m.path}${m.readOnly ? ':ro' : ''}`);
  if (opts.extraCaBundle && fs.existsSync(opts.extraCaBundle)) binds.push(`${opts.extraCaBundle}:${CONTAINER_CA}:ro`);
  if (confined.identity) binds.push(`${confined.identity.passwd}:/etc/passwd:ro`, `${confined.identity.group}:/etc/group:ro`);
  return binds;
}

/**
 * What a container runs, and as whom: always the app's own unprivileged
 * user, with no capabilities, no way to gain privileges and its limits.
 * Stack guests run the launcher in /app. Dockerfile images run in their own
 * WORKDIR: a Procfile command replaces ENTRYPOINT and CMD (it is a shell line,
 * as on Heroku), no command keeps the image's own.
 */
function guestProgram(
  spec: Guest,
  launcher: string[],
  confined: Confined,
  binds: string[],
  opts: GuestOptions,
): Partial<Docker.ContainerCreateOptions> {
  const { User, HostConfig } = confinement(confined.user, confined.limits);
  const host: Docker.HostConfig = {
    ...HostConfig,
    Init: true,
    Binds: binds,
    ...(confined.app ? { Mounts: [confined.app] } : {}),
    ...(confined.hide?.length ? { Tmpfs: Object.fromEntries(confined.hide.map((p) => [p, 'ro,size=4k'])) } : {}),
  };
  // Always set, if only to "": an image's own LABELs show through where ours are absent, and these
  // two name host paths the daemon removes with the container (another tenant's, if an image chose).
  const labels: Record<string, string> = { [LABEL.scratch]: confined.scratch ?? '', [LABEL.slot]: '' };
  if (!spec.image) return { Image: opts.image, User, Cmd: launcher, WorkingDir: '/app', HostConfig: host, Labels: labels };
  return {
    Image: spec.image,
    User,
    HostConfig: host,
    Labels: labels,
    ...(launcher.length ? { Entrypoint: launcher.slice(0, 1), Cmd: launcher.slice(1) } : {}),
  };
}

/** What an instance runs and with which environment: at its creation, or handed to a standby when it takes the instance's place. */
export function instanceProgram(spec: InstanceSpec, port: number | undefined, opts: GuestOptions): { argv: string[]; env: string[] } {
  return {
    argv: spec.image && !spec.command ? [] : ['bash', '-c', LAUNCHER, `slipway-${spec.app}-${spec.type}.${spec.index}`, spec.command],
    env: guestEnv(spec, { DYNO: `${spec.type}.${spec.index}`, ...(port === undefined ? {} : { PORT: String(CONTAINER_PORT) }) }, opts),
  };
}

/** Where a web container's port is published: loopback only, the router's side. */
function published(port: number | undefined): Pick<Docker.ContainerCreateOptions, 'ExposedPorts'> & { PortBindings: Docker.PortMap } {
  return {
    ExposedPorts: port === undefined ? {} : { [`${CONTAINER_PORT}/tcp`]: {} },
    PortBindings: port === undefined ? {} : { [`${CONTAINER_PORT}/tcp`]: [{ HostIp: '127.0.0.1', HostPort: String(port) }] },
  };
}

export function instanceCreateOptions(
  spec: InstanceSpec,
  id: string,
  port: number | undefined,
  confined: Confined,
  opts: GuestOptions,
): Docker.ContainerCreateOptions {
  const { argv, env } = instanceProgram(spec, port, opts);
  const program = guestProgram(spec, argv, confined, guestBinds(spec, confined, opts), opts);
  const { ExposedPorts, PortBindings } = published(port);
  return {
    name: containerName(spec, opts.home),
    ...program,
    Env: env,
    Labels: {
      ...program.Labels,
      [LABEL.app]: spec.app,
      [LABEL.release]: String(spec.release),
      [LABEL.process]: spec.type,
      [LABEL.instance]: id,
      [LABEL.role]: 'instance',
      [LABEL.home]: opts.home,
    },
    ExposedPorts,
    HostConfig: {
      ...program.HostConfig,
      PortBindings,
      // Heroku restarts a dyno on any exit; the engine does it, so crashes are
      // also restarted while the daemon itself is down.
      RestartPolicy: { Name: 'unless-stopped' },
    },
  };
}

/**
 * A standby: the container of an app's next web instance, started before
 * the release exists (see standby.ts). Its user, limits, data and port are
 * the app's; its /app is an empty mount point that the release's overlay is
 * mounted on from the host, and it runs STANDBY_AGENT until then.
 */
export function standbyCreateOptions(
  spec: Pick<InstanceSpec, 'app' | 'release' | 'releaseDir' | 'dataDir' | 'env' | 'image'>,
  standby: { name: string; port: number; slot: string; ctl: string; agent: string },
  confined: Confined,
  opts: GuestOptions,
): Docker.ContainerCreateOptions {
  const app: Docker.MountSettings = { Type: 'bind', Source: standby.slot, Target: '/app', BindOptions: { Propagation: 'rslave' } };
  const binds = [...guestBinds(spec, confined, opts), `${standby.ctl}:/.slipway:ro`];
  const program = guestProgram({ ...spec, image: undefined }, ['bash', '-c', standby.agent], { ...confined, app }, binds, opts);
  const { ExposedPorts, PortBindings } = published(standby.port);
  return {
    name: standby.name,
    ...program,
    Env: [`PATH=${STACK_PATH}`],
    Labels: {
      ...program.Labels,
      [LABEL.app]: spec.app,
      [LABEL.process]: 'web',
      [LABEL.role]: 'standby',
      [LABEL.slot]: standby.slot,
      [LABEL.home]: opts.home,
    },
    ExposedPorts,
    HostConfig: { ...program.HostConfig, PortBindings, RestartPolicy: { Name: 'unless-stopped' } },
  };
}

/** A one-off container (`run`, hooks, the release phase): the same guest as an instance, no port, removed after. */
export function oneOffCreateOptions(
  req: Guest & { argv: string[]; tty: boolean; keepWrites?: boolean },
  name: string,
  dyno: string,
  confined: Confined,
  opts: GuestOptions,
): Docker.ContainerCreateOptions {
  const program = guestProgram(
    req,
    ['bash', '-c', EXEC_LAUNCHER, `slipway-${req.app}-${dyno}`, ...req.argv],
    confined,
    guestBinds(req, confined, opts),
    opts,
  );
  return {
    name,
    ...program,
    Env: guestEnv(req, { DYNO: dyno }, opts),
    Labels: {
      ...program.Labels,
      [LABEL.app]: req.app,
      [LABEL.release]: String(req.release),
      [LABEL.process]: 'run',
      [LABEL.role]: 'one-off',
      [LABEL.home]: opts.home,
    },
    Tty: req.tty,
    OpenStdin: true,
    StdinOnce: true,
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    HostConfig: { ...program.HostConfig, AutoRemove: false },
  };
}
