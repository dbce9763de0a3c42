// Push benchmark: how much slower is a Slipway push-to-live than a bare `git push`
// over OpenSSH, what do guests cost (the same push to a server started with
// `--guests off`), and what does running the app in a Docker container cost over
// a process? Prints one JSON document on stdout; progress goes to stderr.
//
//   npx tsx bench/push.ts [--runs 5]
//   npx tsx bench/push.ts --big [--big-mb 50] [--runs 5]   (a large push: transport only)
//   npx tsx bench/push.ts --swarm [--runs 3]   (web=3 on a 3-node test Swarm vs. the docker driver)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { appRepo, git, setMessage, sshKey, TestServer, tmpdir } from '../test/e2e/harness.js';
import { STACK_IMAGE, connectEngine, requireEngine } from '../src/docker/engine.js';
import { homeId } from '../src/docker/labels.js';
import { removeFromEngine } from '../test/support/engine-cleanup.js';
import { measureBigPush } from './lib/big-push.js';
import { measureSwarmPush } from './lib/swarm-push.js';
import { clusterMissing } from '../test/support/swarm-cluster.js';
import { pushUntilServed, timedPush } from './lib/measure.js';
import { ThrowawaySshd } from './lib/sshd.js';
import { ratio, summarize, type Summary } from './lib/stats.js';

const EXAMPLE = 'procfile-hello';
type Transport = 'ssh' | 'http';
/** A series: how the push arrives, and which driver runs the app (`docker` and `noguests` are pushed over SSH). */
type Series = Transport | 'docker' | 'noguests';
const SERIES: readonly Series[] = ['ssh', 'noguests', 'http', 'docker'];
/**
 * A pause before each timed push, outside the timings: a push starts on a
 * server at rest, as a developer's next push does, not while the engine and
 * the daemon still finish the last deploy (old instances stopping, guests and
 * containers being removed, the docker driver's next build container starting).
 */
const SETTLE_MS = 2000;

interface Samples {
  floor: number[];
  first: Record<Series, number[]>;
  redeploy: Record<Series, number[]>;
}

/** Everything a run needs, set up once so that setup never lands inside a timing. */
interface Rig {
  server: TestServer;
  /** The same server without guests (`--guests off`): the baseline of what guests cost. */
  bare: TestServer;
  sshd: ThrowawaySshd;
  key: ReturnType<typeof sshKey>;
  token: string;
  source: string;
}

const progress = (msg: string): void => void process.stderr.write(`bench: ${msg}\n`);

interface Args {
  runs: number;
  /** `--big`: megabytes of the large-push series instead of the deploy series (`--big-mb`, default 50). */
  bigMb?: number;
  /** `--swarm`: the swarm series (lib/swarm-push.ts) instead of the deploy series. */
  swarm: boolean;
}

function parseCli(): Args {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '5' },
      big: { type: 'boolean', default: false },
      'big-mb': { type: 'string', default: '50' },
      swarm: { type: 'boolean', default: false },
    },
  });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer, got "${values.runs}"`);
  const bigMb = Number(values['big-mb']);
  if (!Number.isInteger(bigMb) || bigMb < 1) throw new Error(`--big-mb must be a positive integer, got "${values['big-mb']}"`);
  if (values.big && values.swarm) throw new Error('--big and --swarm are two separate runs: pick one');
  return { runs, bigMb: values.big ? bigMb : undefined, swarm: values.swarm === true };
}

/** Temp paths to delete at the end, whatever happens. */
class Scratch {
  private readonly paths = new Set<string>();
  add<T extends string>(p: T): T {
    this.paths.add(p);
    return p;
  }
  removeAll(): void {
    for (const p of this.paths) fs.rmSync(p, { recursive: true, force: true });
    this.paths.clear();
  }
}

function mustCli(server: TestServer, args: string[]): string {
  const r = server.cli(args);
  if (r.code !== 0) throw new Error(`slipway ${args.join(' ')} failed (${r.code}):\n${r.stderr}${r.stdout}`);
  return r.stdout.trim();
}

/** Floor: a fresh clone with a new commit, pushed whole to an empty hook-less bare repo. */
async function floorRun(rig: Rig, run: number): Promise<number> {
  const dir = tmpdir('bench-floor');
  try {
    const clone = path.join(dir, 'work');
    const bare = path.join(dir, 'bare.git');
    if (git(dir, ['clone', '-q', rig.source, clone]).code !== 0) throw new Error('git clone of the source repo failed');
    if (git(dir, ['init', '-q', '--bare', bare]).code !== 0) throw new Error('git init --bare failed');
    setMessage(clone, `floor run ${run}`);
    return await timedPush({ repo: clone, remote: rig.sshd.remote(bare), sshCommand: rig.key.sshCommand }, `floor run ${run}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Slipway: first deploy of a brand-new app, then a one-file redeploy; both until the router serves.
 * The `docker` series is the ssh one for an app set to `driver=docker` on the same (process) server.
 */
async function slipwayRun(rig: Rig, scratch: Scratch, series: Series, run: number): Promise<{ first: number; redeploy: number }> {
  const app = `bench-${series}-${run}`;
  const transport: Transport = series === 'http' ? 'http' : 'ssh';
  const server = series === 'noguests' ? rig.bare : rig.server;
  mustCli(server, ['apps:create', app]);
  if (series === 'docker') mustCli(server, ['apps:set', app, 'driver=docker']);
  const repo = scratch.add(appRepo(EXAMPLE));
  const target = {
    repo,
    remote: transport === 'ssh' ? server.sshRemote(app) : server.httpRemote(app, rig.token),
    sshCommand: transport === 'ssh' ? rig.key.sshCommand : undefined,
  };
  try {
    // Unique bodies per step, so a stale release can never satisfy the poll.
    const firstBody = `${app} first`;
    setMessage(repo, firstBody);
    await sleep(SETTLE_MS);
    const first = await pushUntilServed(server, app, target, firstBody, `${app} first deploy`);
    const secondBody = `${app} redeploy`;
    setMessage(repo, secondBody);
    await sleep(SETTLE_MS);
    const redeploy = await pushUntilServed(server, app, target, secondBody, `${app} redeploy`);
    return { first, redeploy };
  } finally {
    // Destroy outside the timings so every run starts with the same number of running apps.
    server.cli(['apps:destroy', app, '--confirm', app]);
    fs.rmSync(repo, { recursive: true, force: true });
  }
}

async function measure(rig: Rig, scratch: Scratch, runs: number): Promise<Samples> {
  const samples: Samples = {
    floor: [],
    first: { ssh: [], noguests: [], http: [], docker: [] },
    redeploy: { ssh: [], noguests: [], http: [], docker: [] },
  };
  // Interleave the series within each run so drift (thermal, caches, other load) hits all of them alike,
  // in an order turned by one each run, so that no series always follows the same one (a docker run's
  // removal still going on in the engine would otherwise always slow the series after it).
  for (let run = 1; run <= runs; run++) {
    await sleep(SETTLE_MS);
    const floor = await floorRun(rig, run);
    samples.floor.push(floor);
    progress(`run ${run}/${runs}: floor ${floor.toFixed(0)}ms`);
    const turn = (run - 1) % SERIES.length;
    for (const series of [...SERIES.slice(turn), ...SERIES.slice(0, turn)]) {
      const { first, redeploy } = await slipwayRun(rig, scratch, series, run);
      samples.first[series].push(first);
      samples.redeploy[series].push(redeploy);
      progress(`run ${run}/${runs}: ${series} first deploy ${first.toFixed(0)}ms, redeploy ${redeploy.toFixed(0)}ms`);
    }
  }
  return samples;
}

function report(runs: number, samples: Samples): object {
  const floor = summarize(samples.floor);
  const vsFloor = (s: number[]): Summary & { ratio_to_floor: number } => {
    const summary = summarize(s);
    return { ...summary, ratio_to_floor: ratio(summary, floor) };
  };
  return {
    bench: 'push',
    runs,
    machine: { cpus: os.cpus().length, node: process.version },
    results: {
      floor_git_push_ssh_ms: floor,
      slipway_ssh_first_deploy_ms: vsFloor(samples.first.ssh),
      slipway_ssh_redeploy_ms: vsFloor(samples.redeploy.ssh),
      slipway_ssh_without_guests_first_deploy_ms: vsFloor(samples.first.noguests),
      slipway_ssh_without_guests_redeploy_ms: vsFloor(samples.redeploy.noguests),
      guest_cost_first_deploy_ms: summarize(samples.first.ssh).median - summarize(samples.first.noguests).median,
      guest_cost_redeploy_ms: summarize(samples.redeploy.ssh).median - summarize(samples.redeploy.noguests).median,
      slipway_http_first_deploy_ms: vsFloor(samples.first.http),
      slipway_http_redeploy_ms: vsFloor(samples.redeploy.http),
      slipway_ssh_docker_first_deploy_ms: {
        ...vsFloor(samples.first.docker),
        ratio_to_process: ratio(summarize(samples.first.docker), summarize(samples.first.ssh)),
      },
      slipway_ssh_docker_redeploy_ms: {
        ...vsFloor(samples.redeploy.docker),
        ratio_to_process: ratio(summarize(samples.redeploy.docker), summarize(samples.redeploy.ssh)),
      },
    },
  };
}

/** Fills `rig` step by step, so that tearDown can undo whatever part got started. */
async function startRig(rig: Partial<Rig>, scratch: Scratch, opts: { baseline: boolean }): Promise<Rig> {
  const key = (rig.key = sshKey(scratch.add(tmpdir('bench-key'))));
  rig.source = scratch.add(appRepo(EXAMPLE));
  progress('starting throw-away sshd');
  rig.sshd = await ThrowawaySshd.start(key.pub);
  progress('starting slipway server');
  const server = (rig.server = await TestServer.start());
  scratch.add(server.home);
  mustCli(server, ['keys:add', key.pub]);
  rig.token = mustCli(server, ['tokens:create']);
  if (!opts.baseline) return rig as Rig;
  progress('starting a second slipway server without guests (the baseline)');
  const bare = (rig.bare = await TestServer.start({ env: { SLIPWAY_GUESTS: 'off' } }));
  scratch.add(bare.home);
  mustCli(bare, ['keys:add', key.pub]);
  return rig as Rig;
}

async function tearDown(rig: Partial<Rig>, scratch: Scratch): Promise<void> {
  await rig.server?.stop();
  await rig.bare?.stop();
  // Containers outlive the daemon on purpose; the bench's own go with its cache volumes.
  if (rig.server) await removeFromEngine(connectEngine(), [`slipway.home=${homeId(rig.server.home)}`]).catch(() => undefined);
  await rig.sshd?.stop();
  scratch.removeAll();
}

/** The docker series needs a running engine and the stack image; say which is missing, up front. */
async function assertDocker(): Promise<void> {
  const docker = connectEngine();
  await requireEngine(docker);
  await docker
    .getImage(STACK_IMAGE)
    .inspect()
    .catch(() => {
      throw new Error(`the Docker stack image ${STACK_IMAGE} does not exist: build it once with \`slipway stack:build\``);
    });
}

/** `--swarm`: its own rig (a test Swarm and two servers), torn down by measureSwarmPush whatever happens. */
async function swarmMain(runs: number): Promise<number> {
  try {
    const results = await measureSwarmPush({ mustCli, progress }, runs);
    const out = { bench: 'push', series: 'swarm', runs, machine: { cpus: os.cpus().length, node: process.version }, results };
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
    return 0;
  } catch (err) {
    process.stderr.write(`bench: failed: ${(err as Error).stack ?? err}\n`);
    return 1;
  }
}

async function main(): Promise<number> {
  let args: Args;
  try {
    args = parseCli();
    if (args.swarm) {
      const why = clusterMissing();
      if (why) throw new Error(why);
      await assertDocker();
      return await swarmMain(args.runs);
    }
    ThrowawaySshd.assertInstalled();
    if (args.bigMb === undefined) await assertDocker();
  } catch (err) {
    // Usage and setup errors are the user's to fix: a message, not a stack trace.
    process.stderr.write(`bench: ${(err as Error).message}\n`);
    return 1;
  }
  const scratch = new Scratch();
  const rig: Partial<Rig> = {};
  // Ctrl-C must not leave a root sshd or a daemon with running apps behind.
  const onSignal = (): void => void tearDown(rig, scratch).finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const ready = await startRig(rig, scratch, { baseline: args.bigMb === undefined });
    const result =
      args.bigMb !== undefined
        ? await measureBigPush({ ...ready, mustCli: (a) => mustCli(ready.server, a), progress }, args.runs, args.bigMb)
        : report(args.runs, await measure(ready, scratch, args.runs));
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    return 0;
  } catch (err) {
    process.stderr.write(`bench: failed: ${(err as Error).stack ?? err}\n`);
    return 1;
  } finally {
    progress('cleaning up');
    await tearDown(rig, scratch);
  }
}

process.exitCode = await main();
