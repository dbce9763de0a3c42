import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { SlipwayError, invalid } from '../errors.js';

/**
 * `registry:start`: Debian's `docker-registry` (distribution 2.8), run for the
 * swarm driver on the server's machine, with its storage in the server's home.
 * It runs detached, as the apps' services do: it outlives a daemon restart,
 * and the hosts keep pulling from it meanwhile. What it listens on is recorded
 * beside its pid, so the daemon uses it when `--registry` is not given.
 */
export interface RegistryState {
  /** `HOST:PORT` it listens on. */
  address: string;
  pid: number;
  /** Where the images are kept (kept on `registry:stop`). */
  storage: string;
}

const PROGRAM = 'docker-registry';
/** Where the registry listens unless told: the port Docker's own `registry` image uses. */
export const REGISTRY_PORT = 5000;

const files = (home: string) => {
  const dir = path.join(home, 'registry');
  return {
    dir,
    config: path.join(dir, 'config.yml'),
    storage: path.join(dir, 'data'),
    state: path.join(dir, 'registry.json'),
    log: path.join(dir, 'registry.log'),
  };
};

/** `HOST:PORT` (an IPv4 address or a host name), as engines name a registry; one line when it is not. */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^([A-Za-z0-9.-]+):(\d{1,5})$/.exec(listen);
  const port = Number(m?.[2]);
  if (!m || port < 1 || port > 65535)
    throw invalid(
      `--listen ${JSON.stringify(listen.slice(0, 80))} is not HOST:PORT`,
      'give the address the hosts reach, e.g. 10.0.0.1:5000',
    );
  return { host: m[1]!, port };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A pid reused by another program is not our registry.
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(PROGRAM);
  } catch {
    return false;
  }
}

/** The registry this home started, while it runs; undefined otherwise. */
export function runningRegistry(home: string): RegistryState | undefined {
  try {
    const state = JSON.parse(fs.readFileSync(files(home).state, 'utf8')) as RegistryState;
    return alive(state.pid) ? state : undefined;
  } catch {
    return undefined;
  }
}

function answers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path: '/v2/', timeout: 1000, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

function portTaken(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(1000);
    socket.on('connect', () => (socket.destroy(), resolve(true)));
    socket.on('error', () => resolve(false));
    socket.on('timeout', () => (socket.destroy(), resolve(false)));
  });
}

/** Starts the registry unless this home's runs already; resolves once it answers `/v2/`. */
export async function startRegistry(home: string, listen: string): Promise<{ state: RegistryState; started: boolean }> {
  const running = runningRegistry(home);
  if (running) return { state: running, started: false };
  const { host, port } = parseListen(listen);
  if (spawnSync('sh', ['-c', 'command -v "$1" || test -x "/usr/bin/$1"', 'sh', PROGRAM]).status !== 0)
    throw new SlipwayError('registry_unavailable', `${PROGRAM} is not installed on the server's machine`, {
      status: 503,
      hint: 'apt-get install docker-registry, or run a registry yourself and start the server with --registry HOST:PORT',
    });
  if (await portTaken(host, port))
    throw new SlipwayError('registry_unavailable', `something listens on ${listen} already`, {
      status: 409,
      hint: 'pick another --listen address, or start the server with --registry pointing at that registry if it is one',
    });
  const f = files(home);
  fs.mkdirSync(f.storage, { recursive: true, mode: 0o700 });
  // JSON is YAML: the registry's own config, its storage in the server's home.
  fs.writeFileSync(
    f.config,
    JSON.stringify({
      version: 0.1,
      log: { level: 'warn' },
      storage: { filesystem: { rootdirectory: f.storage }, delete: { enabled: true } },
      http: { addr: listen },
    }),
  );
  const log = fs.openSync(f.log, 'a');
  // Its own session: a daemon restart (or its process group's signal) leaves it running.
  const child = spawn(PROGRAM, ['serve', f.config], { detached: true, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  child.unref();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const state: RegistryState = { address: listen, pid: child.pid ?? 0, storage: f.storage };
  const deadline = Date.now() + 15_000;
  let up = false;
  while (!up && Date.now() < deadline && child.exitCode === null) {
    up = await answers(host, port);
    if (!up) await Promise.race([exited, new Promise((r) => setTimeout(r, 200))]);
  }
  if (!up) {
    if (child.exitCode === null) child.kill('SIGKILL');
    const last = fs.readFileSync(f.log, 'utf8').trim().split('\n').pop() ?? '';
    throw new SlipwayError('registry_unavailable', `${PROGRAM} did not answer on ${listen}${last ? `: ${last.slice(0, 200)}` : ''}`, {
      status: 502,
      hint: `see ${f.log}; --listen must be an address of this machine`,
    });
  }
  fs.writeFileSync(f.state, JSON.stringify(state));
  return { state, started: true };
}

/** Stops this home's registry (its images stay in its storage); false when none ran. */
export async function stopRegistry(home: string): Promise<boolean> {
  const running = runningRegistry(home);
  fs.rmSync(files(home).state, { force: true });
  if (!running) return false;
  process.kill(running.pid, 'SIGTERM');
  for (let i = 0; i < 50 && alive(running.pid); i++) await new Promise((r) => setTimeout(r, 100));
  if (alive(running.pid)) process.kill(running.pid, 'SIGKILL');
  return true;
}
