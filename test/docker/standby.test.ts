import { expect } from 'chai';
import Docker from 'dockerode';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { addBuildpack, appRepo, commitAll, eventually, push, setMessage, sshArgs, useServer } from '../e2e/harness.js';
import { removeFromEngine } from '../support/engine-cleanup.js';
import { underLoad } from '../support/load.js';
import { instanceContainers, isWaiting } from '../support/instance-containers.js';
import { requires } from '../support/requires.js';
import { STACK_IMAGE } from '../../src/docker/engine.js';
import { homeId } from '../../src/docker/labels.js';

const docker = new Docker({ socketPath: (process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock').replace(/^unix:\/\//, '') });

/** Answers with what it sees of its own environment; writes into /app at start; /crash exits with 3. */
const SERVER = `const http = require('http');
const fs = require('fs');
const message = fs.readFileSync('message.txt', 'utf8').trim();
fs.writeFileSync('written-at-start.txt', 'by the app');
http.createServer((req, res) => {
  if (req.url === '/crash') { res.end('bye'); setTimeout(() => process.exit(3), 10); return; }
  const e = process.env;
  res.end(JSON.stringify({ message, greeting: e.GREETING ?? null, dyno: e.DYNO, port: e.PORT, home: e.HOME, cwd: process.cwd(), uid: process.getuid() }));
}).listen(Number(process.env.PORT));
process.on('SIGTERM', () => process.exit(0));
`;

const mounted = (needle: string) => fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(needle);

describe('standby containers: the docker driver starts the next release ahead (real dockerd)', function () {
  this.timeout(300_000);
  requires('docker', 'stack');
  const env = useServer({ env: { SLIPWAY_DRIVER: 'docker' } });
  const APP = 'standby';
  const OTHER = 'standby-other';
  let repo: string;

  let rebuilt: string | undefined;
  after(async () => {
    if (env.server) await removeFromEngine(docker, [`slipway.home=${homeId(env.server.home)}`]);
    if (rebuilt)
      await docker
        .getImage(rebuilt)
        .remove({ force: true })
        .catch(() => undefined);
  });

  const deploy = async (message: string) => {
    setMessage(repo, message);
    const r = await push(repo, env.server.sshRemote(APP), { sshCommand: env.key.sshCommand });
    expect(r.code, r.stderr).to.equal(0);
  };
  const answer = async () => JSON.parse((await env.server.get(APP)).body) as Record<string, unknown>;
  const standbysOf = async (app: string, all = false) =>
    (await docker.listContainers({ all, filters: { label: [`slipway.app=${app}`, 'slipway.role=standby'] } })).filter(isWaiting);
  const waitingStandby = async (app = APP) => {
    let found: Docker.ContainerInfo | undefined;
    await eventually(async () => !!(found = (await standbysOf(app)).find((c) => c.State === 'running')), `a standby of ${app}`);
    return found!;
  };
  const exec = (id: string, user: string, cmd: string[]) => spawnSync('docker', ['exec', '-u', user, id, ...cmd], { encoding: 'utf8' });

  before(async () => {
    const { server } = env;
    expect(server.cli(['apps:create', APP]).code).to.equal(0);
    expect(server.cli(['config:set', APP, 'GREETING=hello from config']).code).to.equal(0);
    repo = appRepo('procfile-hello');
    fs.writeFileSync(path.join(repo, 'server.js'), SERVER);
    commitAll(repo, 'an app that shows its environment');
    await deploy('one');
  });

  it('after a deploy, a standby waits: the app’s user and limits, an empty /app, no config in the engine’s record', async () => {
    const standby = await waitingStandby();
    const [live] = await instanceContainers(docker, { app: APP });
    const [s, l] = await Promise.all([docker.getContainer(standby.Id).inspect(), docker.getContainer(live!.Id).inspect()]);
    expect(s.Config.User)
      .to.equal(l.Config.User)
      .and.to.not.match(/^0(:|$)/);
    expect(s.HostConfig.CapDrop).to.deep.equal(['ALL']);
    expect(s.HostConfig.Memory).to.equal(l.HostConfig.Memory);
    expect(s.HostConfig.PidsLimit).to.equal(l.HostConfig.PidsLimit);
    expect(s.Config.Env!.join('\n')).to.not.include('GREETING');
    expect(exec(standby.Id, '0', ['ls', '-A', '/app']).stdout).to.equal('');
    // Its agent's files are the daemon's to write: read-only inside, nothing handed over yet.
    const own = s.Config.User!;
    expect(exec(standby.Id, own, ['sh', '-c', 'echo x > /.slipway/argv']).status).to.not.equal(0);
    expect(exec(standby.Id, own, ['ls', '-A', '/.slipway']).stdout.trim()).to.equal('go');
  });

  it("the next release's web instance takes it over, with no failed request: the instance's name, environment and overlay, the release untouched", async () => {
    const { server, key } = env;
    const standby = await waitingStandby();
    const load = await underLoad(server.ports.router, `${APP}.localhost`, () => deploy('two'));
    expect(load.during).to.be.greaterThan(20);
    expect(load.failures).to.equal(0);
    expect(await answer()).to.deep.include({
      message: 'two',
      greeting: 'hello from config',
      dyno: 'web.1',
      port: '5000',
      home: '/app',
      cwd: '/app',
    });
    const [live] = await instanceContainers(docker, { app: APP });
    expect(live!.Id).to.equal(standby.Id);
    expect(live!.Names[0]).to.match(new RegExp(`^/slipway-${homeId(server.home)}-${APP}-v2-web-1$`));
    // The app's write at start went to the container's own layer, not into the release.
    const releases = path.join(server.home, 'apps', APP, 'releases');
    for (const v of fs.readdirSync(releases)) expect(fs.existsSync(path.join(releases, v, 'written-at-start.txt')), v).to.equal(false);
    const user = (await docker.getContainer(live!.Id).inspect()).Config.User!;
    expect(exec(live!.Id, user, ['cat', '/app/written-at-start.txt']).stdout).to.equal('by the app');
    // enter gets the instance's environment, not the standby's.
    const entered = spawnSync('ssh', ['-tt', ...sshArgs(key.key, server.ports.ssh), `enter ${APP} web.1`], {
      input: 'echo "greeting=$GREETING dyno=$DYNO"; exit\n',
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(entered.stdout, entered.stderr).to.include('greeting=hello from config dyno=web.1');
  });

  it('a crash of a taken-over container: the engine restarts it with the same command and environment', async () => {
    const [before] = await instanceContainers(docker, { app: APP });
    await env.server.get(APP, '/crash').catch(() => undefined);
    await eventually(async () => (await docker.getContainer(before!.Id).inspect()).RestartCount > 0, 'the engine restarted it');
    await eventually(async () => (await answer()).greeting === 'hello from config', 'served again');
    expect((await answer()).message).to.equal('two');
    expect((await instanceContainers(docker, { app: APP })).map((c) => c.Id)).to.deep.equal([before!.Id]);
    // The driver followed it as it follows any instance's container.
    await eventually(
      () => /Restarted by the engine/.test(env.server.cli(['logs', APP, '--ps', 'web.1', '-n', '50']).stdout),
      'the restart logged',
    );
    expect(env.server.cli(['logs', APP, '--ps', 'web.1', '-n', '50']).stdout).to.include('Container exited with status 3');
  });

  it('ps:restart uses the standby and leaves one waiting for the next deploy', async () => {
    const { server } = env;
    const before = await waitingStandby();
    expect(server.cli(['ps:restart', APP]).code).to.equal(0);
    expect((await answer()).message).to.equal('two');
    // Taken (by the restart's surge instance, or the restarted one), then made again.
    await eventually(async () => !(await standbysOf(APP, true)).some((c) => c.Id === before.Id), 'the standby taken');
    const after = await waitingStandby();
    expect(after.Id).to.not.equal(before.Id);
  });

  it('another app never gets this app’s standby', async () => {
    const { server, key } = env;
    const mine = await waitingStandby();
    expect(server.cli(['apps:create', OTHER]).code).to.equal(0);
    const other = appRepo('procfile-hello');
    setMessage(other, 'other');
    const r = await push(other, server.sshRemote(OTHER), { sshCommand: key.sshCommand });
    expect(r.code, r.stderr).to.equal(0);
    const [theirs] = await instanceContainers(docker, { app: OTHER });
    expect(theirs!.Id).to.not.equal(mine.Id);
    expect((await standbysOf(APP)).map((c) => c.Id)).to.include(mine.Id);
    expect(server.cli(['apps:destroy', OTHER, '--confirm', OTHER]).code).to.equal(0);
  });

  it("apps:create starts one: a new app's first deploy takes it over", async () => {
    const { server, key } = env;
    const FIRST = 'standby-first';
    expect(server.cli(['apps:create', FIRST]).code).to.equal(0);
    const standby = await waitingStandby(FIRST);
    const first = appRepo('procfile-hello');
    setMessage(first, 'first deploy');
    const r = await push(first, server.sshRemote(FIRST), { sshCommand: key.sshCommand });
    expect(r.code, r.stderr).to.equal(0);
    expect((await server.get(FIRST)).body.trim()).to.equal('first deploy');
    const [web] = await instanceContainers(docker, { app: FIRST });
    expect(web!.Id).to.equal(standby.Id);
    // Its data dir, which did not exist when the standby was made, is the app's to write.
    const user = (await docker.getContainer(web!.Id).inspect()).Config.User!;
    const wrote = exec(web!.Id, user, ['sh', '-c', 'echo kept > /data/first.txt && cat /data/first.txt']);
    expect(wrote.stdout, wrote.stderr).to.equal('kept\n');
    expect(server.cli(['apps:destroy', FIRST, '--confirm', FIRST]).code).to.equal(0);
  });

  it('after kill -9, the restarted daemon adopts the taken-over container and removes the standby that only waited', async () => {
    const { server } = env;
    const [serving] = await instanceContainers(docker, { app: APP });
    const waiting = await waitingStandby();
    await server.kill9();
    await server.boot();
    expect(server.output).to.include('adopted');
    expect((await answer()).message).to.equal('two');
    expect((await instanceContainers(docker, { app: APP })).map((c) => c.Id)).to.deep.equal([serving!.Id]);
    await eventually(async () => !(await standbysOf(APP, true)).some((c) => c.Id === waiting.Id), 'the waiting standby removed');
    expect(mounted(waiting.Names[0]!.slice(1))).to.equal(false);
    // The next deploy starts cold (no standby was made since), then one waits again.
    await deploy('three');
    expect((await answer()).message).to.equal('three');
    await waitingStandby();
  });

  it('a stack image rebuilt since (`stack:build --force`): the next deploy builds and runs on the new one', async () => {
    const { server } = env;
    const standby = await waitingStandby();
    const builds = () =>
      docker.listContainers({ filters: { label: [`slipway.app=${APP}`, 'slipway.role=build', `slipway.home=${homeId(server.home)}`] } });
    await eventually(async () => (await builds()).length > 0, 'a build container waiting for the next push');
    const warm = (await builds()).map((c) => c.Id);
    // What a rebuild is to a running server: the tag names another image. This one has a file more.
    const old = (await docker.getImage(STACK_IMAGE).inspect()).Id;
    const made = spawnSync('docker', ['run', '--name', `${APP}-restack`, old, 'sh', '-c', 'echo rebuilt > /etc/stack-mark'], {
      encoding: 'utf8',
    });
    expect(made.status, made.stderr).to.equal(0);
    const committed = spawnSync('docker', ['commit', '--change', 'CMD ["bash"]', `${APP}-restack`, STACK_IMAGE], { encoding: 'utf8' });
    spawnSync('docker', ['rm', '-f', `${APP}-restack`]);
    expect(committed.status, committed.stderr).to.equal(0);
    rebuilt = committed.stdout.trim();
    try {
      addBuildpack(repo, 'mark', 'cat /etc/stack-mark > "$1/stack-mark.txt" 2>/dev/null || echo none > "$1/stack-mark.txt"');
      commitAll(repo, 'a buildpack that tells which stack it ran on');
      await deploy('on the rebuilt stack');
      const live = server.cli(['releases', APP]).stdout.match(/^v(\d+)\*/m)![1];
      expect(fs.readFileSync(path.join(server.home, 'apps', APP, 'releases', `v${live}`, 'stack-mark.txt'), 'utf8')).to.equal('rebuilt\n');
      const [web] = await instanceContainers(docker, { app: APP });
      expect(web!.Id).to.not.equal(standby.Id);
      expect(web!.ImageID).to.equal(rebuilt);
      expect((await answer()).message).to.equal('on the rebuilt stack');
      // Both made from the old image are gone, not kept for later.
      await eventually(async () => !(await standbysOf(APP, true)).some((c) => c.Id === standby.Id), 'the old standby removed');
      await eventually(async () => !(await builds()).some((c) => warm.includes(c.Id)), 'the old build container removed');
    } finally {
      await docker.getImage(old).tag({ repo: STACK_IMAGE.split(':')[0], tag: STACK_IMAGE.split(':')[1] });
    }
  });

  it('apps:destroy leaves no standby, no mount and no scratch dir of the app', async () => {
    const { server } = env;
    const waiting = await waitingStandby();
    const [live] = await instanceContainers(docker, { app: APP });
    const slots = [waiting, live!].map((c) => c.Labels['slipway.slot']).filter((x): x is string => !!x);
    expect(slots.length, 'the standby has its mount point').to.be.greaterThan(0);
    for (const slot of slots) expect(fs.existsSync(slot), slot).to.equal(true);
    expect(server.cli(['apps:destroy', APP, '--confirm', APP]).code).to.equal(0);
    expect(
      await docker.listContainers({ all: true, filters: { label: [`slipway.app=${APP}`, `slipway.home=${homeId(server.home)}`] } }),
    ).to.deep.equal([]);
    for (const slot of slots) expect(mounted(slot) || fs.existsSync(slot), slot).to.equal(false);
    const scratch = path.join(server.home, 'run', 'docker');
    expect((fs.existsSync(scratch) ? fs.readdirSync(scratch) : []).filter((d) => d.includes(`-${APP}-`))).to.deep.equal([]);
  });
});
