import { expect } from 'chai';
import Docker from 'dockerode';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { BIN, appRepo, push, setMessage, sshArgs, TestServer, useServer, type Result } from '../e2e/harness.js';
import { underLoad as loadOnRouter } from '../support/load.js';
import { removeFromEngine } from '../support/engine-cleanup.js';
import { homeId } from '../../src/docker/labels.js';
import { STACK_IMAGE } from '../../src/docker/engine.js';
import { requires } from '../support/requires.js';
import { instanceContainers } from '../support/instance-containers.js';

const docker = new Docker({ socketPath: (process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock').replace(/^unix:\/\//, '') });

/** Running instance containers of one app, from the engine itself. */
async function containersOf(app: string): Promise<Docker.ContainerInfo[]> {
  return instanceContainers(docker, { app });
}

const underLoad = (server: TestServer, app: string, work: () => Promise<void>) =>
  loadOnRouter(server.ports.router, `${app}.localhost`, work);

function sshTty(key: string, port: number, command: string, input: string): Result {
  const r = spawnSync('ssh', ['-tt', ...sshArgs(key, port), command], { input, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe('docker driver (real dockerd)', function () {
  this.timeout(300_000);
  requires('docker', 'stack');
  before(function () {
    // Built once per machine, then reused (the command is idempotent).
    this.timeout(30 * 60_000);
    const r = spawnSync(BIN, ['stack:build'], { encoding: 'utf8', timeout: 30 * 60_000 });
    if (r.status !== 0) throw new Error(`stack:build failed: ${r.stdout}${r.stderr}`);
  });
  // Every container here is started for its instance, as web.2, workers and Dockerfile apps always are: no standby
  // (whose engine record differs: test/docker/standby.test.ts) and no build container kept for the next push.
  const env = useServer({ env: { SLIPWAY_DRIVER: 'docker', SLIPWAY_BUILD_KEEP_WARM: '0' } });
  const APP = 'dockhello';
  let repo: string;

  // A suite skipped for a missing engine started nothing.
  after(async () => env.server && removeFromEngine(docker, [`slipway.app=${APP}`]));

  // Every test may run alone: v1 is pushed here.
  before(async () => {
    const { server, key } = env;
    expect(server.cli(['apps:create', APP]).code).to.equal(0);
    repo = appRepo('procfile-hello');
    setMessage(repo, 'from a container');
    const pushed = await push(repo, server.sshRemote(APP), { sshCommand: key.sshCommand });
    expect(pushed.code, pushed.stderr).to.equal(0);
  });

  it('the stack image holds no setuid or setgid program (su, passwd, mount…) a guest could gain root through', () => {
    const r = spawnSync('docker', ['run', '--rm', '--network', 'none', STACK_IMAGE, 'find', '/', '-xdev', '-type', 'f', '-perm', '/6000'], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout.trim().split('\n').filter(Boolean)).to.deep.equal([]);
  });

  it('serves a pushed app from a labelled container bound to 127.0.0.1', async () => {
    const { server } = env;
    expect((await server.get(APP)).body).to.equal('from a container');
    const found = await containersOf(APP);
    expect(found).to.have.length(1);
    const c = found[0]!;
    const home = homeId(server.home);
    expect(c.Names[0]).to.equal(`/slipway-${home}-${APP}-v1-web-1`);
    expect(c.Labels).to.include({
      'slipway.app': APP,
      'slipway.release': '1',
      'slipway.process': 'web',
      'slipway.instance': `${APP}.v1.web.1`,
      'slipway.home': home,
    });
    expect(c.Image).to.equal('slipway/stack:bookworm');
    expect(c.Ports.find((p) => p.PrivatePort === 5000)?.IP).to.equal('127.0.0.1');
    const info = await docker.getContainer(c.Id).inspect();
    expect(info.HostConfig.Init).to.equal(true);
    expect(info.Config.Env).to.include.members(['HOME=/app', 'PORT=5000', 'SLIPWAY_DATA_DIR=/data']);
  });

  it('a new push swaps the container with no failed request', async () => {
    const { server, key } = env;
    const [old] = await containersOf(APP);
    setMessage(repo, 'second container');
    const load = await underLoad(server, APP, async () => {
      const r = await push(repo, server.sshRemote(APP), { sshCommand: key.sshCommand });
      expect(r.code, r.stderr).to.equal(0);
    });
    expect(load.during).to.be.greaterThan(20);
    expect(load.failures).to.equal(0);
    expect((await server.get(APP)).body).to.equal('second container');
    const now = await containersOf(APP);
    expect(now.map((c) => c.Names[0])).to.deep.equal([`/slipway-${homeId(server.home)}-${APP}-v2-web-1`]);
    expect(now[0]!.Id).to.not.equal(old!.Id);
    const all = await docker.listContainers({ all: true, filters: { label: [`slipway.app=${APP}`] } });
    expect(all.map((c) => c.Id)).to.not.include(old!.Id);
  });

  it("enter runs inside the container (its hostname, not the host's)", async () => {
    const { server, key } = env;
    const [c] = await containersOf(APP);
    const hostname = (await docker.getContainer(c!.Id).inspect()).Config.Hostname;
    const inWeb = sshTty(key.key, server.ports.ssh, `enter ${APP} web.1`, 'hostname; echo "user=$(whoami)"; exit\n');
    expect(inWeb.stdout, inWeb.stderr).to.include(hostname);
    // The app's user has a name in its container, as in a process guest (guest/identity.ts).
    expect(inWeb.stdout).to.match(/^user=app\r?$/m);
    const oneOff = sshTty(key.key, server.ports.ssh, `enter ${APP}`, 'echo "host=$(hostname) home=$HOME user=$(whoami)"; exit\n');
    expect(oneOff.stdout, oneOff.stderr).to.match(/host=\w+ home=\/app user=app/);
    expect(oneOff.stdout).to.not.include(`host=${os.hostname()} `);
    // A script without `exit` ends too, in the running container and in a one-off: the end of input is typed as ^D.
    for (const target of [`${APP} web.1`, APP]) {
      const script = sshTty(key.key, server.ports.ssh, `enter ${target}`, 'echo done-$((6*7))\n');
      expect(script.code, script.stdout + script.stderr).to.equal(0);
      expect(script.stdout).to.match(/^done-42\r?$/m);
    }
  });

  it('a restarted daemon adopts the same containers, without duplicates', async () => {
    const { server } = env;
    const before = (await containersOf(APP)).map((c) => c.Id);
    const serving = (await server.get(APP)).body;
    await server.stop();
    // The container keeps running while the daemon is down.
    expect((await containersOf(APP)).map((c) => c.Id)).to.deep.equal(before);
    await server.boot();
    expect(server.output).to.include('adopted');
    expect((await server.get(APP)).body).to.equal(serving);
    expect((await containersOf(APP)).map((c) => c.Id)).to.deep.equal(before);
  });

  it('fails to start with one clear line when the engine is unreachable', async () => {
    const err = await TestServer.start({ env: { SLIPWAY_DRIVER: 'docker', DOCKER_HOST: 'unix:///nonexistent.sock' } }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).to.match(/cannot reach the Docker engine at unix:\/\/\/nonexistent.sock .*(systemctl start docker|dockerd)/);
  });
});
