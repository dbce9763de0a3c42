import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { alive } from './proc.js';
import { makeCa, serverTls } from './swarm-tls.js';

/**
 * A Docker Swarm test cluster on one machine: N extra dockerds, each in its own
 * network namespace (a veth into one bridge in the root namespace, 10.213.0.11…),
 * its own UTS namespace (its own host name, so Swarm sees N machines) and mount
 * namespace, plus Debian's docker-registry on the bridge address, which every
 * node lists as an insecure registry. The facts and pitfalls behind each choice
 * are in the shared note "swarm on one machine"; the numbers below cite them.
 *
 * Everything made here carries one prefix, so teardown is one sweep by that
 * prefix — the same sweep after a clean run, a `kill -9`ed node, or a crashed
 * earlier run that left things behind (`clusterUp` sweeps first).
 */
export interface ClusterOptions {
  /** Nodes to start (default 3). */
  nodes?: number;
  /** Names every namespace, link, directory, cgroup and iptables rule (default `slpsw`). */
  prefix?: string;
  /** The first three octets of the /24 the bridge and nodes live on (default `10.213.0`). */
  subnet?: string;
  /** Also serve each engine on tcp://ADDRESS:2376 with TLS client certificates (a CA made for the cluster). */
  tls?: boolean;
}

/** PEM files of the cluster's CA and one client certificate it signed, for `hosts:add --ca --cert --key`. */
export interface ClusterTls {
  ca: string;
  cert: string;
  key: string;
}

export interface ClusterNode {
  /** `node1`…: the node's host name, which Swarm shows. */
  name: string;
  /** Its address on the bridge, reachable from the root namespace and the other nodes. */
  address: string;
  /** Its engine, as DOCKER_HOST or `hosts:add --engine` take it. */
  engine: string;
  socket: string;
  pid: number;
  /** `tcp://ADDRESS:2376`, with `tls`; answers only a client certificate of the cluster's CA. */
  tlsEngine?: string;
}

export interface SwarmCluster {
  prefix: string;
  nodes: ClusterNode[];
  /** The bridge's address in the root namespace (the nodes' gateway). */
  bridgeAddress: string;
  /** `HOST:PORT` of the registry every node may pull from over plain HTTP. */
  registry: string;
  /** With `tls`: the files a client presents. */
  tls?: ClusterTls;
  /** SIGKILL one node's dockerd (its containerd, shims and containers stay until `down`). */
  kill(node: ClusterNode): void;
  /** Removes everything `clusterUp` made; also safe after a failed or partial start. */
  down(): Promise<void>;
}

const DEFAULT_PREFIX = 'slpsw';
const REGISTRY_PORT = 5000;

const dirs = (prefix: string) => ({ run: `/run/${prefix}`, lib: `/var/lib/${prefix}` });
const netns = (prefix: string, i: number) => `${prefix}-n${i}`;
const bridge = (prefix: string) => `${prefix}-br`;
const hostVeth = (prefix: string, i: number) => `${prefix}-n${i}h`;
const nodeVeth = (prefix: string, i: number) => `${prefix}-n${i}c`;
/** The pids hierarchy holds one cgroup per daemon: everything it forks (containerd, shims) stays findable there. */
const PIDS_CGROUP = '/sys/fs/cgroup/pids';

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${(r.stderr || r.stdout || String(r.error)).trim()}`);
  return r.stdout;
}

const attempt = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000 });

/** Whether this machine can run a cluster: root, and the programs it uses. Undefined when it can. */
export function clusterMissing(): string | undefined {
  if (process.getuid?.() !== 0) return 'a swarm test cluster needs root (network namespaces, dockerds)';
  const missing = ['ip', 'iptables', 'dockerd', 'docker-registry', 'unshare', 'openssl'].filter(
    (b) => attempt('sh', ['-c', 'command -v "$1" || test -x "/usr/sbin/$1"', 'sh', b]).status !== 0,
  );
  if (missing.length)
    return `the swarm test cluster needs ${missing.join(', ')}: apt-get install docker.io docker-registry iproute2 iptables util-linux openssl`;
  if (!fs.existsSync(PIDS_CGROUP))
    return `the swarm test cluster tracks its processes in the cgroup v1 pids hierarchy, and ${PIDS_CGROUP} is missing`;
  return undefined;
}

/** The host's cgroup hierarchies, to mount again inside a node (pitfall 1: `ip netns exec` remounts /sys). */
function cgroupMounts(): string[] {
  const out: string[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const mountPoint = left.split(' ')[4] ?? '';
    const [type, , superOpts] = right.split(' ');
    if (!mountPoint.startsWith('/sys/fs/cgroup/') || (type !== 'cgroup' && type !== 'cgroup2')) continue;
    const opts = (superOpts ?? '').split(',').filter((o) => o !== 'rw' && o !== 'ro');
    out.push(path.basename(mountPoint), type, opts.length ? opts.join(',') : 'defaults');
  }
  return out;
}

/*
 * Runs inside the node's namespaces, then becomes dockerd. Arguments only, no
 * user strings: $1 host name, $2 the daemon's pids cgroup, then triples (dir,
 * type, options) of cgroup hierarchies up to `--`, then dockerd's argv.
 */
const NODE_PRELUDE = `set -e
hostname "$1"; tracked="$2"; shift 2
mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup
while [ "$1" != -- ]; do mkdir -p "/sys/fs/cgroup/$1"; mount -t "$2" -o "$3" cgroup "/sys/fs/cgroup/$1"; shift 3; done
shift; echo $$ > "$tracked/cgroup.procs"
mkdir -p /run/containerd && mount -t tmpfs -o mode=711 containerd /run/containerd
exec "$@"`;

/** $1 the pids cgroup, then the program's argv. */
const TRACKED = 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"';

function startDetached(argv: string[], log: string): number {
  const fd = fs.openSync(log, 'a');
  // Detached = its own session (pitfall 3): nothing of ours signals its group.
  const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  child.unref();
  if (!child.pid) throw new Error(`could not start ${argv[0]}`);
  return child.pid;
}

function trackedCgroup(prefix: string, name: string): string {
  const dir = path.join(PIDS_CGROUP, `${prefix}-${name}`);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

async function until(what: string, ms: number, check: () => Promise<boolean> | boolean, log?: string, pid?: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end && (pid === undefined || alive(pid))) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  const tail = log && fs.existsSync(log) ? `\n${fs.readFileSync(log, 'utf8').split('\n').slice(-15).join('\n')}` : '';
  throw new Error(`${what} did not happen ${pid !== undefined && !alive(pid) ? '(it exited)' : `within ${ms / 1000} s`}${tail}`);
}

function answers(options: http.RequestOptions): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ ...options, timeout: 1000 }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 500) < 500);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

/** Brings a cluster up; on any failure everything made so far is removed again before the error is thrown. */
export async function clusterUp(options: ClusterOptions = {}): Promise<SwarmCluster> {
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  const count = options.nodes ?? 3;
  const subnet = options.subnet ?? '10.213.0';
  const why = clusterMissing();
  if (why) throw new Error(why);
  await sweep(prefix);
  const foreign = run('ip', ['-4', '-o', 'addr', 'show'])
    .split('\n')
    .find((l) => l.includes(` ${subnet}.`));
  if (foreign) throw new Error(`${subnet}.0/24 is already in use on this machine: ${foreign.trim()}; pick another subnet`);

  const { run: runDir, lib } = dirs(prefix);
  const bridgeAddress = `${subnet}.1`;
  const registry = `${bridgeAddress}:${REGISTRY_PORT}`;
  const cluster: SwarmCluster = {
    prefix,
    nodes: [],
    bridgeAddress,
    registry,
    kill: (node) => {
      if (alive(node.pid)) process.kill(node.pid, 'SIGKILL');
    },
    down: () => sweep(prefix),
  };
  try {
    fs.mkdirSync(runDir, { recursive: true });
    fs.mkdirSync(lib, { recursive: true });
    if (options.tls) cluster.tls = makeCa(path.join(lib, 'tls'));
    const br = bridge(prefix);
    run('ip', ['link', 'add', br, 'type', 'bridge']);
    run('ip', ['addr', 'add', `${bridgeAddress}/24`, 'dev', br]);
    run('ip', ['link', 'set', br, 'up']);
    // Pitfall 2: the host's dockerd sets FORWARD to DROP, and bridged node↔node packets pass through it.
    run('iptables', ['-I', 'FORWARD', '1', '-i', br, '-o', br, '-m', 'comment', '--comment', prefix, '-j', 'ACCEPT']);

    const cgroups = cgroupMounts();
    const starting: Array<{ node: ClusterNode; log: string }> = [];
    for (let i = 1; i <= count; i++) {
      const ns = netns(prefix, i);
      const address = `${subnet}.${10 + i}`;
      run('ip', ['netns', 'add', ns]);
      run('ip', ['link', 'add', hostVeth(prefix, i), 'type', 'veth', 'peer', 'name', nodeVeth(prefix, i)]);
      run('ip', ['link', 'set', hostVeth(prefix, i), 'master', br, 'up']);
      run('ip', ['link', 'set', nodeVeth(prefix, i), 'netns', ns]);
      const inNs = (args: string[]) => run('ip', ['netns', 'exec', ns, 'ip', ...args]);
      inNs(['link', 'set', nodeVeth(prefix, i), 'name', 'eth0']);
      inNs(['addr', 'add', `${address}/24`, 'dev', 'eth0']);
      inNs(['link', 'set', 'eth0', 'up']);
      inNs(['link', 'set', 'lo', 'up']);
      inNs(['route', 'add', 'default', 'via', bridgeAddress]);

      const name = `node${i}`;
      const nodeRun = path.join(runDir, name);
      const nodeLib = path.join(lib, name);
      fs.mkdirSync(nodeRun, { recursive: true });
      fs.mkdirSync(nodeLib, { recursive: true });
      const socket = path.join(nodeRun, 'docker.sock');
      const config = path.join(nodeLib, 'daemon.json');
      // Pitfall 7: nothing shared with the host's engine — config, key, cgroups, address pools.
      fs.writeFileSync(
        config,
        JSON.stringify({
          hosts: [`unix://${socket}`, ...(options.tls ? [`tcp://${address}:2376`] : [])],
          'data-root': path.join(nodeLib, 'data'),
          'exec-root': path.join(nodeRun, 'exec'),
          pidfile: path.join(nodeRun, 'docker.pid'),
          'deprecated-key-path': path.join(nodeLib, 'key.json'),
          'cgroup-parent': `${prefix}-${name}-tasks`,
          'insecure-registries': [registry],
          bip: `172.30.${i}.1/24`,
          'default-address-pools': [{ base: `172.${31 + i}.0.0/16`, size: 24 }],
          'storage-driver': 'overlay2',
          'log-level': 'warn',
          ...(cluster.tls ? serverTls(cluster.tls, path.join(nodeLib, 'tls'), address) : {}),
        }),
      );
      const log = path.join(nodeLib, 'dockerd.log');
      const pid = startDetached(
        [
          'ip', 'netns', 'exec', ns, 'unshare', '--uts', '--', 'sh', '-c', NODE_PRELUDE, 'sh', name,
          trackedCgroup(prefix, name), ...cgroups, '--', 'dockerd', '--config-file', config,
        ], // prettier-ignore
        log,
      );
      const node = {
        name,
        address,
        engine: `unix://${socket}`,
        socket,
        pid,
        ...(cluster.tls ? { tlsEngine: `tcp://${address}:2376` } : {}),
      };
      cluster.nodes.push(node);
      starting.push({ node, log });
    }

    const regDir = path.join(lib, 'registry');
    fs.mkdirSync(regDir, { recursive: true });
    const regConfig = path.join(regDir, 'config.yml');
    // JSON is YAML: the registry's own config, its storage under our prefix.
    fs.writeFileSync(
      regConfig,
      JSON.stringify({
        version: 0.1,
        log: { level: 'warn' },
        storage: { filesystem: { rootdirectory: path.join(regDir, 'data') }, delete: { enabled: true } },
        http: { addr: registry },
      }),
    );
    const regLog = path.join(regDir, 'registry.log');
    startDetached(['sh', '-c', TRACKED, 'sh', trackedCgroup(prefix, 'registry'), 'docker-registry', 'serve', regConfig], regLog);

    for (const { node, log } of starting)
      await until(
        `${node.name}'s dockerd answering at ${node.socket}`,
        60_000,
        () => answers({ socketPath: node.socket, path: '/_ping' }),
        log,
        node.pid,
      );
    await until(
      `the registry answering at ${registry}`,
      20_000,
      () => answers({ host: bridgeAddress, port: REGISTRY_PORT, path: '/v2/' }),
      regLog,
    );
    return cluster;
  } catch (err) {
    await sweep(prefix);
    throw err;
  }
}

/** Pids in a cgroup and every cgroup below it. */
function cgroupPids(dir: string): number[] {
  if (!fs.existsSync(dir)) return [];
  const own = fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  const below = fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .flatMap((e) => cgroupPids(path.join(dir, e.name)));
  return [...own, ...below];
}

/** Every cgroup directory this prefix made, in every hierarchy, deepest first. */
function prefixCgroups(prefix: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      const sub = path.join(dir, e.name);
      walk(sub);
      out.push(sub);
    }
  };
  if (!fs.existsSync('/sys/fs/cgroup')) return out;
  for (const h of fs.readdirSync('/sys/fs/cgroup', { withFileTypes: true })) {
    if (!h.isDirectory()) continue;
    for (const e of fs.readdirSync(path.join('/sys/fs/cgroup', h.name), { withFileTypes: true })) {
      if (!e.isDirectory() || !e.name.startsWith(`${prefix}-`)) continue;
      const top = path.join('/sys/fs/cgroup', h.name, e.name);
      walk(top);
      out.push(top);
    }
  }
  return out;
}

/** Processes of the prefix: in its cgroups (pitfall 5: a killed node leaves containerd, shims, containers). */
function prefixPids(prefix: string): number[] {
  const inCgroups = prefixCgroups(prefix).flatMap((d) => {
    try {
      return cgroupPids(d);
    } catch {
      return [];
    }
  });
  return [...new Set(inCgroups)].filter((p) => p !== process.pid && alive(p));
}

function forwardRules(prefix: string): string[] {
  const r = attempt('iptables', ['-S', 'FORWARD']);
  return (r.stdout ?? '').split('\n').filter((l) => l.includes(`--comment ${prefix}`) || l.includes(`"${prefix}"`));
}

const linksOf = (prefix: string) =>
  (attempt('ip', ['-o', 'link', 'show']).stdout ?? '')
    .split('\n')
    .map((l) => l.split(': ')[1]?.split('@')[0] ?? '')
    .filter((n) => n.startsWith(`${prefix}-`));

const namespacesOf = (prefix: string) =>
  (attempt('ip', ['netns', 'list']).stdout ?? '')
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(`${prefix}-`));

const mountsOf = (prefix: string) =>
  fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(`/${prefix}-`) || l.includes(`/${prefix}/`));

/** What of a prefix is still on this machine, one line per thing; empty when nothing is. */
export function leftovers(prefix = DEFAULT_PREFIX): string[] {
  const { run: runDir, lib } = dirs(prefix);
  return [
    ...namespacesOf(prefix).map((n) => `network namespace ${n}`),
    ...linksOf(prefix).map((n) => `link ${n}`),
    ...prefixPids(prefix).map((p) => `process ${p} (${fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0')[0]})`),
    ...mountsOf(prefix).map((m) => `mount ${m.split(' ')[4]}`),
    ...forwardRules(prefix).map((r) => `iptables rule ${r}`),
    ...prefixCgroups(prefix).map((d) => `cgroup ${d}`),
    ...[runDir, lib].filter((d) => fs.existsSync(d)).map((d) => `directory ${d}`),
  ];
}

/** Removes everything of a prefix, whatever state a run left it in. Throws, listing them, if anything stays. */
export async function sweep(prefix = DEFAULT_PREFIX): Promise<void> {
  // Processes first: a namespace or mount is only gone once nothing holds it. SIGKILL, as the data goes too.
  for (let round = 0; round < 50; round++) {
    const pids = prefixPids(prefix);
    if (!pids.length) break;
    for (const p of pids) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  for (const ns of namespacesOf(prefix)) attempt('ip', ['netns', 'delete', ns]);
  for (const link of linksOf(prefix)) attempt('ip', ['link', 'delete', link]);
  for (const rule of forwardRules(prefix)) {
    const args = rule.replace(/^-A /, '-D ').match(/"[^"]*"|\S+/g) ?? [];
    attempt(
      'iptables',
      args.map((a) => a.replace(/^"(.*)"$/, '$1')),
    );
  }
  for (const m of mountsOf(prefix).reverse()) attempt('umount', ['-l', m.split(' ')[4] ?? '']);
  // Emptied cgroups go deepest first; a cgroup with a dying process may take a moment.
  for (let round = 0; round < 30; round++) {
    const left = prefixCgroups(prefix).filter((d) => {
      try {
        fs.rmdirSync(d);
        return false;
      } catch {
        return fs.existsSync(d);
      }
    });
    if (!left.length) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const { run: runDir, lib } = dirs(prefix);
  for (const d of [runDir, lib]) fs.rmSync(d, { recursive: true, force: true });
  const left = leftovers(prefix);
  if (left.length) throw new Error(`the swarm test cluster left ${left.length} thing(s) behind:\n${left.join('\n')}`);
}
