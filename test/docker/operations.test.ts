import { expect } from 'chai';
import Docker from 'dockerode';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { homeId, releaseImageLabels } from '../../src/docker/labels.js';
import { query } from '../e2e/db.js';
import { BIN, appRepo, push, setMessage, ssh, tmpdir, useServer, type Result } from '../e2e/harness.js';
import { EngineProxy } from '../support/engine-proxy.js';
import { removeFromEngine } from '../support/engine-cleanup.js';
import { requires } from '../support/requires.js';
import { instanceContainers, releaseOf } from '../support/instance-containers.js';

const docker = new Docker({ socketPath: '/var/run/docker.sock' });
const STACK = 'slipway/stack:bookworm';
const ENGINE_LINE =
  /cannot reach the Docker engine at unix:\/\/\S+\/docker\.sock \(no socket there\): start it with `systemctl start docker`/;

/** Everything (any state) one server created for one app, from the engine itself. */
function containersOf(home: string, app: string, extra: string[] = []): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`slipway.home=${homeId(home)}`, `slipway.app=${app}`, ...extra] } });
}

async function exists(thing: { inspect(): Promise<unknown> }): Promise<boolean> {
  return thing.inspect().then(
    () => true,
    () => false,
  );
}

/** An image labelled as a Dockerfile build of one release would be (tiny: FROM the stack, no layers of its own). */
async function releaseImage(tag: string, labels: Record<string, string>): Promise<string> {
  const dir = tmpdir('image');
  fs.writeFileSync(path.join(dir, 'Dockerfile'), `FROM ${STACK}\n`);
  const stream = await docker.buildImage({ context: dir, src: ['Dockerfile'] }, { t: tag, labels } as Docker.ImageBuildOptions);
  await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve())));
  fs.rmSync(dir, { recursive: true, force: true });
  return (await docker.getImage(tag).inspect()).Id;
}

/** A container carrying Slipway's labels, as a crashed daemon or another server could have left it. */
async function labelledContainer(labels: Record<string, string>, running: boolean): Promise<Docker.Container> {
  const c = await docker.createContainer({ Image: STACK, Cmd: ['sleep', 'infinity'], Labels: labels, HostConfig: { Init: true } });
  if (running) await c.start();
  return c;
}

/** The failure lines git relays (`remote:  !     …`): a user reads these, so each problem should be one of them. */
const failureLines = (stderr: string) => stderr.split('\n').filter((l) => ENGINE_LINE.test(l));

describe('docker operations (real dockerd)', function () {
  this.timeout(300_000);
  requires('docker', 'stack');
  before(function () {
    this.timeout(30 * 60_000);
    const r = spawnSync(BIN, ['stack:build'], { encoding: 'utf8', timeout: 30 * 60_000 });
    if (r.status !== 0) throw new Error(`stack:build failed: ${r.stdout}${r.stderr}`);
  });

  describe('per-app driver on a process server', () => {
    // The engine's socket does not exist until a test starts the proxy: a process server must not care.
    const engine = new EngineProxy();
    const env = useServer({ env: { DOCKER_HOST: engine.dockerHost } });
    const APP = 'opsmixed';
    let repo: string;
    /** v1, pushed with no engine anywhere, as it was right after its push. */
    let first: { socketBefore: boolean; pushed: Result; body: string };

    // Every test may run alone, in any order: v1 is pushed here as a process, and each test first
    // brings the app where it starts (processLive, containerLive). In file order those find it there
    // already and push nothing.
    before(async () => {
      const { server, key } = env;
      const socketBefore = fs.existsSync(engine.socket);
      expect(server.cli(['apps:create', APP]).code).to.equal(0);
      repo = appRepo('procfile-hello');
      setMessage(repo, 'as a process');
      const pushed = await push(repo, server.sshRemote(APP), { sshCommand: key.sshCommand });
      first = { socketBefore, pushed, body: (await server.get(APP)).body };
    });

    after(async () => {
      await engine.close();
      if (env.server) await removeFromEngine(docker, [`slipway.home=${homeId(env.server.home)}`]);
    });

    const releaseRows = () =>
      query<{ version: number; status: string; driver: string | null }>(
        env.server.home,
        'SELECT r.version, r.status, r.driver FROM releases r JOIN apps a ON a.id = r.app_id WHERE a.name = ? ORDER BY r.version',
        APP,
      );
    /** The live release's row. */
    const live = () => {
      const [{ current }] = query<{ current: number }>(env.server.home, 'SELECT current_release AS current FROM apps WHERE name = ?', APP);
      return releaseRows().find((r) => r.version === current)!;
    };
    const deploy = async (driver: 'process' | 'docker', body: string) => {
      const { server, key } = env;
      expect(server.cli(['apps:set', APP, `driver=${driver}`]).code).to.equal(0);
      setMessage(repo, body);
      const r = await push(repo, server.sshRemote(APP), { sshCommand: key.sshCommand });
      expect(r.code, r.stderr).to.equal(0);
    };
    /** A live release that runs as a process (the engine as it is). */
    const processLive = async () => {
      if (live().driver === 'process') return;
      // Stopping the container it replaces needs the engine.
      await engine.open();
      await deploy('process', 'as a process');
    };
    /** The engine up and a live release in a container. */
    const containerLive = async () => {
      await engine.open();
      if (live().driver !== 'docker') await deploy('docker', 'in a container');
    };

    it('starts and serves process apps with no engine anywhere', () => {
      expect(first.socketBefore).to.equal(false);
      expect(first.pushed.code, first.pushed.stderr).to.equal(0);
      expect(first.body).to.equal('as a process');
      expect(releaseRows()[0]).to.deep.equal({ version: 1, status: 'succeeded', driver: 'process' });
    });

    it('an app switched to docker while the engine is missing: one clear line, the process release keeps serving', async () => {
      const { server, key } = env;
      await processLive();
      await engine.close();
      const before = live();
      const body = (await server.get(APP)).body;
      expect(server.cli(['apps:set', APP, 'driver=docker']).code).to.equal(0);
      setMessage(repo, 'never live');
      const r = await push(repo, server.sshRemote(APP), { sshCommand: key.sshCommand });
      expect(failureLines(r.stderr), r.stderr).to.have.length(1);
      expect((await server.get(APP)).body).to.equal(body);
      expect(server.cli(['releases', APP]).stdout).to.match(new RegExp(`^v${before.version}\\*\\s`, 'm'));
      // The release never ran: its container build found no engine, so it has no driver.
      expect(releaseRows().at(-1)).to.deep.equal({ version: before.version + 1, status: 'failed', driver: null });
    });

    it('once the engine is up, the next deploy runs in a container and the old process stops', async () => {
      const { server, key } = env;
      await processLive();
      await engine.open();
      const before = live();
      expect(server.cli(['apps:set', APP, 'driver=docker']).code).to.equal(0);
      setMessage(repo, 'in a container');
      const r = await push(repo, server.sshRemote(APP), { sshCommand: key.sshCommand });
      expect(r.code, r.stderr).to.equal(0);
      expect((await server.get(APP)).body).to.equal('in a container');
      const now = live();
      expect(now).to.include({ status: 'succeeded', driver: 'docker' });
      expect(now.version).to.be.greaterThan(before.version);
      const running = await instanceContainers(docker, { app: APP, home: homeId(server.home) }, { all: true });
      expect(running.map((c) => [releaseOf(c), c.State])).to.deep.equal([[String(now.version), 'running']]);
      const ps = server.cli(['ps', APP]).stdout;
      expect(ps).to.match(new RegExp(`web\\.1\\s+up\\s+v${now.version}\\b`));
      expect(ps).to.not.match(new RegExp(`\\bv${before.version}\\b`));
    });

    it('run and enter go to the container, not the host', async () => {
      const { server, key } = env;
      await containerLive();
      const [c] = await instanceContainers(docker, { app: APP, home: homeId(server.home) }, { all: true });
      const hostname = (await docker.getContainer(c!.Id).inspect()).Config.Hostname;
      const entered = ssh(key.key, server.ports.ssh, ['enter', APP, 'web.1'], 'hostname\n');
      expect(entered.stdout.trim(), entered.stderr).to.equal(hostname);
      // A one-off container of the live release: the guest's HOME, a hostname that is not the host's.
      const ranHome = ssh(key.key, server.ports.ssh, ['run', APP, '--', 'printenv', 'HOME']);
      expect(ranHome.code, ranHome.stderr).to.equal(0);
      expect(ranHome.stdout.trim()).to.equal('/app');
      const ranHost = ssh(key.key, server.ports.ssh, ['run', APP, '--', 'hostname']);
      expect(ranHost.code, ranHost.stderr).to.equal(0);
      expect(ranHost.stdout.trim())
        .to.match(/^[0-9a-f]{12}$/)
        .and.not.equal(os.hostname());
    });

    it('switched back to process, a daemon restart keeps the live release in its container', async () => {
      const { server } = env;
      await containerLive();
      const body = (await server.get(APP)).body;
      const [before] = await instanceContainers(docker, { app: APP, home: homeId(server.home) }, { all: true });
      expect(server.cli(['apps:set', APP, 'driver=process']).code).to.equal(0);
      await server.stop();
      await server.boot();
      expect((await server.get(APP)).body).to.equal(body);
      const after = await instanceContainers(docker, { app: APP, home: homeId(server.home) }, { all: true });
      expect(after.map((c) => [c.Id, c.State])).to.deep.equal([[before!.Id, 'running']]);
    });

    it('the next release is a process and the container is gone', async () => {
      const { server, key } = env;
      await containerLive();
      const before = live();
      await deploy('process', 'a process again');
      expect((await server.get(APP)).body).to.equal('a process again');
      expect(await containersOf(server.home, APP)).to.deep.equal([]);
      const now = live();
      expect(server.cli(['ps', APP]).stdout).to.match(new RegExp(`web\\.1\\s+up\\s+v${now.version}\\s+\\d+\\s+\\d+`));
      const ran = ssh(key.key, server.ports.ssh, ['run', APP, '--', 'hostname']);
      expect(ran.code, ran.stderr).to.equal(0);
      // A process guest names itself after the one-off (a container would say its id).
      expect(ran.stdout.trim()).to.match(new RegExp(`^${APP}\\.v${now.version}\\.run\\.`));
      // Each release remembers the driver it ran on.
      expect([before, now].map((r) => [r.status, r.driver])).to.deep.equal([
        ['succeeded', 'docker'],
        ['succeeded', 'process'],
      ]);
    });
  });

  describe('reconcile, clean-up and a stopped engine on a docker server', () => {
    const engine = new EngineProxy();
    before(() => engine.open());
    const env = useServer({ env: { SLIPWAY_DRIVER: 'docker', DOCKER_HOST: engine.dockerHost } });
    const APP = 'opsrot';
    const FOREIGN = 'f0reign000';
    let repo: string;

    after(async () => {
      await engine.close();
      for (const home of [homeId(env.server.home), FOREIGN]) await removeFromEngine(docker, [`slipway.home=${home}`]);
    });

    const deploy = async (body: string) => {
      const { server, key } = env;
      setMessage(repo, body);
      const r = await push(repo, server.sshRemote(APP), { sshCommand: key.sshCommand });
      expect(r.code, r.stderr).to.equal(0);
      expect((await server.get(APP)).body).to.equal(body);
      return r;
    };
    const releaseRows = () =>
      query<{ version: number; status: string }>(
        env.server.home,
        'SELECT r.version, r.status FROM releases r JOIN apps a ON a.id = r.app_id WHERE a.name = ? ORDER BY r.version',
        APP,
      );
    const liveVersion = () => query<{ v: number }>(env.server.home, 'SELECT current_release AS v FROM apps WHERE name = ?', APP)[0]!.v;

    // Every test may run alone, in any order: the app keeps two releases, and two are deployed here;
    // each test opens or closes the engine as it needs it.
    before(async () => {
      const { server } = env;
      expect(server.cli(['apps:create', APP]).code).to.equal(0);
      expect(server.cli(['apps:set', APP, 'releases.keep=2']).code).to.equal(0);
      repo = appRepo('procfile-hello');
      await deploy('one');
      await deploy('two');
    });

    it('rotation removes the containers and images of pruned releases, never the live one or its rollback target', async () => {
      const { server } = env;
      await engine.open();
      const home = homeId(server.home);
      // The two kept releases: the next deploy prunes the older; the newer stays as the rollback target.
      const [older, newer] = releaseRows()
        .filter((r) => r.status === 'succeeded')
        .map((r) => r.version)
        .slice(-2) as [number, number];
      // What they could have left behind: a one-off's container, and Dockerfile-built images.
      const leftover = await labelledContainer({ ...releaseImageLabels(APP, older, home), 'slipway.role': 'one-off' }, false);
      const olderImage = await releaseImage(`slipway/${APP}:v${older}`, releaseImageLabels(APP, older, home));
      const newerImage = await releaseImage(`slipway/${APP}:v${newer}`, releaseImageLabels(APP, newer, home));
      // Another server on this engine with an app of the same name: not ours to touch.
      const foreignImage = await releaseImage(`slipway/${APP}:v${older}-${FOREIGN}`, releaseImageLabels(APP, older, FOREIGN));

      const r = await deploy('three');
      const made = liveVersion();
      expect(r.stderr).to.match(new RegExp(`Pruned old releases: v${older}\\b(?!,)`));
      expect(await exists(leftover)).to.equal(false);
      expect(await exists(docker.getImage(olderImage))).to.equal(false);
      expect(await exists(docker.getImage(newerImage))).to.equal(true);
      expect(await exists(docker.getImage(foreignImage))).to.equal(true);
      const running = await instanceContainers(docker, { app: APP, home: homeId(server.home) }, { all: true });
      expect(running.map((c) => [releaseOf(c), c.State])).to.deep.equal([[String(made), 'running']]);
      expect(releaseRows().filter((x) => [older, newer, made].includes(x.version))).to.deep.equal([
        { version: older, status: 'pruned' },
        { version: newer, status: 'succeeded' },
        { version: made, status: 'succeeded' },
      ]);
    });

    it("a restarted daemon serves from the same container and removes a stray of a non-live release, but not another server's", async () => {
      const { server } = env;
      await engine.open();
      const home = homeId(server.home);
      const live = liveVersion();
      const body = (await server.get(APP)).body;
      const [serving] = await instanceContainers(docker, { app: APP, home: homeId(server.home) }, { all: true });
      await server.stop();
      // v1 is never live here (two releases are deployed before any test).
      const labels = {
        'slipway.app': APP,
        'slipway.release': '1',
        'slipway.process': 'web',
        'slipway.instance': `${APP}.v1.web.1`,
        'slipway.role': 'instance',
      };
      const stray = await labelledContainer({ ...labels, 'slipway.home': home }, true);
      const foreign = await labelledContainer({ ...labels, 'slipway.home': FOREIGN }, true);
      await server.boot();
      expect(server.output).to.include(`${APP}.v${live}.web.1 adopted`);
      expect(server.output).to.include(`${APP}.v1.web.1: removing container`);
      expect((await server.get(APP)).body).to.equal(body);
      const instances = await instanceContainers(docker, { app: APP, home: homeId(server.home) }, { all: true });
      expect(instances.map((c) => c.Id)).to.deep.equal([serving!.Id]);
      expect(await exists(stray)).to.equal(false);
      expect((await foreign.inspect()).State.Running).to.equal(true);
      await foreign.remove({ force: true });
    });

    it('with the engine stopped: one clear line, and the live release keeps its state in the store', async () => {
      const { server, key } = env;
      // Up first, so the live release is the one the engine ran.
      await engine.open();
      const live = liveVersion();
      const body = (await server.get(APP)).body;
      await engine.close();
      setMessage(repo, 'four');
      const pushed = await push(repo, server.sshRemote(APP), { sshCommand: key.sshCommand });
      expect(failureLines(pushed.stderr), pushed.stderr).to.have.length(1);

      const restart = server.cli(['ps:restart', APP]);
      expect(restart.code).to.not.equal(0);
      expect(
        restart.stderr
          .trim()
          .split('\n')
          .filter((l) => l.trim()),
        restart.stderr,
      ).to.have.length(1);
      expect(restart.stderr).to.match(ENGINE_LINE);

      expect(liveVersion()).to.equal(live);
      expect(releaseRows().find((r) => r.version === live)).to.deep.equal({ version: live, status: 'succeeded' });
      expect(server.cli(['releases', APP]).stdout).to.match(new RegExp(`^v${live}\\*\\s+\\S+\\s+succeeded`, 'm'));
      // The container itself never depended on Slipway reaching the engine.
      expect((await server.get(APP)).body).to.equal(body);
    });

    it('slipway server --driver docker without an engine exits non-zero with that one line', async () => {
      await engine.close();
      const home = tmpdir('home');
      const r = spawnSync(BIN, ['server', '--driver', 'docker', '--ssh-port', '0', '--http-port', '0', '--router-port', '0'], {
        env: { ...process.env, SLIPWAY_HOME: home, DOCKER_HOST: engine.dockerHost, SLIPWAY_ROUTER: 'builtin' },
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(r.status).to.not.equal(0);
      expect(r.stderr.trim().split('\n'), r.stderr).to.have.length(1);
      expect(r.stderr).to.match(ENGINE_LINE);
      fs.rmSync(home, { recursive: true, force: true });
    });
  });
});
