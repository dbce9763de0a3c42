import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectEngine } from '../../src/docker/engine.js';
import { homeId } from '../../src/docker/labels.js';
import { appRepo, push, setMessage, TestServer } from '../../test/e2e/harness.js';
import { removeFromEngine } from '../../test/support/engine-cleanup.js';
import { clusterUp, type SwarmCluster } from '../../test/support/swarm-cluster.js';
import { loadStackImage } from '../../test/support/swarm-images.js';
import { POLL_MS } from './measure.js';
import { ratio, summarize } from './stats.js';

/**
 * `bench/push.ts --swarm`: push → new body served by all three web instances,
 * for an app on the swarm driver (a task on each node of a 3-node test
 * cluster, test/support/swarm-cluster.ts) and, as its yardstick in the same
 * run, the same app on the docker driver (three containers on this machine's
 * engine). Each run deploys both apps once and scales them to web=3 outside
 * the timing, then times a one-file redeploy of each, interleaved.
 */
const EXAMPLE = 'procfile-hello';
const DRIVERS = ['docker', 'swarm'] as const;
type Driver = (typeof DRIVERS)[number];
const REPLICAS = 3;

interface SwarmRig {
  cluster: SwarmCluster;
  /** Its engine is the cluster's manager (node1); every node was added as a host. */
  swarm: TestServer;
  /** This machine's own engine, for the docker driver. */
  docker: TestServer;
  tokens: Record<Driver, string>;
}

export interface SwarmBenchDeps {
  mustCli(server: TestServer, args: string[]): string;
  progress(msg: string): void;
}

/** The example, answering with its message and its dyno, so the bench sees which instance answered. */
function dynoRepo(): string {
  const repo = appRepo(EXAMPLE);
  const file = path.join(repo, 'server.js');
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('res.end(message);', 'res.end(`${message} ${process.env.DYNO}`);'));
  return repo;
}

/**
 * From the start of `git push` until every one of the `replicas` instances has
 * answered the router with `message` (requests go round the instances, so the
 * last one first seen with it ends the timing).
 */
async function pushUntilAllServe(server: TestServer, app: string, remote: string, repo: string, message: string): Promise<number> {
  const t0 = performance.now();
  let failure: string | undefined;
  const pushing = push(repo, remote).then((r) => {
    if (r.code !== 0) failure = `push of ${app} exited ${r.code}:\n${r.stderr}`;
  });
  const seen = new Set<string>();
  while (performance.now() - t0 < 300_000) {
    if (failure) throw new Error(failure);
    const r = await server.get(app).catch(() => undefined);
    const [body, dyno] = (r?.status === 200 ? r.body.trim() : '').split(' ');
    if (body === message && dyno) seen.add(dyno);
    if (seen.size === REPLICAS) {
      const ms = performance.now() - t0;
      await pushing;
      if (failure) throw new Error(failure);
      return ms;
    }
    await sleep(POLL_MS);
  }
  await pushing;
  throw new Error(
    failure ?? `${app}: the router did not serve "${message}" from ${REPLICAS} instances within 300 s (saw ${[...seen].join(', ')})`,
  );
}

async function startRig(rig: Partial<SwarmRig>, deps: SwarmBenchDeps): Promise<SwarmRig> {
  deps.progress('bringing up the 3-node test Swarm and its registry');
  const cluster = (rig.cluster = await clusterUp({ nodes: 3 }));
  const [first] = cluster.nodes;
  deps.progress("copying the stack image into the manager's engine");
  await loadStackImage(first!);
  deps.progress('starting a slipway server on the manager (swarm) and one on this machine (docker)');
  const swarm = (rig.swarm = await TestServer.start({
    env: { DOCKER_HOST: first!.engine, SLIPWAY_REGISTRY: cluster.registry, SLIPWAY_HEALTH_TIMEOUT: '60' },
  }));
  const docker = (rig.docker = await TestServer.start());
  deps.mustCli(swarm, ['swarm:init', '--advertise-addr', first!.address]);
  for (const n of cluster.nodes) deps.mustCli(swarm, ['hosts:add', n.name, '--engine', n.engine]);
  rig.tokens = { swarm: deps.mustCli(swarm, ['tokens:create']), docker: deps.mustCli(docker, ['tokens:create']) };
  return rig as SwarmRig;
}

async function tearDown(rig: Partial<SwarmRig>): Promise<void> {
  await rig.swarm?.stop();
  await rig.docker?.stop();
  if (rig.docker) await removeFromEngine(connectEngine(), [`slipway.home=${homeId(rig.docker.home)}`]).catch(() => undefined);
  for (const s of [rig.swarm, rig.docker]) if (s) fs.rmSync(s.home, { recursive: true, force: true });
  await rig.cluster?.down();
}

/** One run of one driver: deploy and scale to web=3 (untimed), then the timed redeploy. */
async function runOnce(rig: SwarmRig, deps: SwarmBenchDeps, driver: Driver, run: number): Promise<number> {
  const server = rig[driver];
  const app = `bench-${driver}3-${run}`;
  const remote = server.httpRemote(app, rig.tokens[driver]);
  const repo = dynoRepo();
  try {
    deps.mustCli(server, ['apps:create', app]);
    deps.mustCli(server, ['apps:set', app, `driver=${driver}`]);
    setMessage(repo, 'first');
    const first = await push(repo, remote);
    if (first.code !== 0) throw new Error(`first push of ${app} failed (${first.code}):\n${first.stderr}`);
    deps.mustCli(server, ['ps:scale', app, `web=${REPLICAS}`]);
    setMessage(repo, 'second');
    return await pushUntilAllServe(server, app, remote, repo, 'second');
  } finally {
    server.cli(['apps:destroy', app, '--confirm', app]);
    fs.rmSync(repo, { recursive: true, force: true });
  }
}

export async function measureSwarmPush(deps: SwarmBenchDeps, runs: number): Promise<object> {
  const rig: Partial<SwarmRig> = {};
  const onSignal = (): void => void tearDown(rig).finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const ready = await startRig(rig, deps);
    const samples: Record<Driver, number[]> = { docker: [], swarm: [] };
    for (let run = 1; run <= runs; run++)
      for (const driver of DRIVERS) {
        const ms = await runOnce(ready, deps, driver, run);
        samples[driver].push(ms);
        deps.progress(`run ${run}/${runs}: ${driver} web=${REPLICAS} redeploy, new body from all ${REPLICAS}: ${ms.toFixed(0)}ms`);
      }
    const docker = summarize(samples.docker);
    const swarm = summarize(samples.swarm);
    return {
      slipway_docker_web3_redeploy_ms: docker,
      slipway_swarm_web3_redeploy_ms: { ...swarm, ratio_to_docker: ratio(swarm, docker) },
    };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    deps.progress('tearing the test Swarm down');
    await tearDown(rig);
  }
}
