import { spawn } from 'node:child_process';
import Docker from 'dockerode';
import type { ClusterNode, SwarmCluster } from './swarm-cluster.js';

/** A ~2 MB image (`sleep` and its libc) for tests that need a container, not a stack: loads in a blink. */
export const TINY_IMAGE = 'slpsw/sleep:1';

/** Imports TINY_IMAGE into a node's engine from this machine's own `sleep`. */
export async function loadTinyImage(node: ClusterNode): Promise<void> {
  const files = ['usr/bin/sleep', 'lib/x86_64-linux-gnu/libc.so.6', 'lib64/ld-linux-x86-64.so.2'];
  // -h: Debian's /lib is a link into /usr; the image holds the files themselves.
  const tar = spawn('tar', ['-chf', '-', '-C', '/', ...files], { stdio: ['ignore', 'pipe', 'inherit'] });
  const docker = new Docker({ socketPath: node.socket });
  const [repo, tag] = TINY_IMAGE.split(':');
  const stream = await docker.importImage(tar.stdout, { repo, tag });
  await new Promise((resolve, reject) => docker.modem.followProgress(stream, (err) => (err ? reject(err) : resolve(undefined))));
}

/**
 * Puts TINY_IMAGE into the cluster's registry (through the first node) and
 * returns its reference there, which every node pulls without leaving the
 * machine (a bare `slpsw/sleep:1` would send each node to Docker Hub first).
 */
export async function pushTinyImage(cluster: SwarmCluster): Promise<string> {
  const node = cluster.nodes[0]!;
  await loadTinyImage(node);
  const docker = new Docker({ socketPath: node.socket });
  const [name, tag] = TINY_IMAGE.split(':');
  const repo = `${cluster.registry}/${name}`;
  await docker.getImage(TINY_IMAGE).tag({ repo, tag });
  const stream = await docker.getImage(`${repo}:${tag}`).push({ authconfig: {} });
  await new Promise((resolve, reject) =>
    docker.modem.followProgress(stream, (err, events) => {
      const failed = (events as Array<{ error?: string }> | undefined)?.find((e) => e.error);
      if (err || failed) reject(err ?? new Error(failed!.error));
      else resolve(undefined);
    }),
  );
  return `${repo}:${tag}`;
}

/**
 * Copies this machine's stack image (slipway/stack:bookworm) into a node's
 * engine (`docker save | load`, ~30 s): the swarm driver builds release
 * images from it on the manager, and a test cluster starts with empty engines.
 */
export async function loadStackImage(node: ClusterNode, image = 'slipway/stack:bookworm'): Promise<void> {
  const save = spawn('docker', ['save', image], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, DOCKER_HOST: '' } });
  const docker = new Docker({ socketPath: node.socket });
  const stream = await docker.loadImage(save.stdout);
  await new Promise((resolve, reject) => docker.modem.followProgress(stream, (err) => (err ? reject(err) : resolve(undefined))));
}
