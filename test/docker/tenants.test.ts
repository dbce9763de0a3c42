import { expect } from 'chai';
import Docker from 'dockerode';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { homeId } from '../../src/docker/labels.js';
import {
  BIN,
  addBuildpack,
  appRepo,
  commitAll,
  eventually,
  push,
  setMessage,
  sshArgs,
  sshKey,
  tmpdir,
  useServer,
  type Result,
} from '../e2e/harness.js';
import { removeFromEngine } from '../support/engine-cleanup.js';
import { requires } from '../support/requires.js';
import { instanceContainers } from '../support/instance-containers.js';

const docker = new Docker({ socketPath: (process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock').replace(/^unix:\/\//, '') });

/**
 * What a hostile tenant tries from inside each of its guests. The first line
 * says who it runs as; every other line says what one attempt got: a word in
 * capitals is a success (a breach), `denied …` a failure.
 */
const PROBE = `#!/bin/sh
where=$1
echo "probe $where uid=$(id -u) cap=$(awk '/^CapEff/ {print $2}' /proc/self/status)"
for f in slipway.db secret.key ssh_host_ed25519_key apps/victim/releases/v1/message.txt apps/victim/data/private.txt apps/victim/env/VICTIM_SECRET; do
  if cat "$TEST_HOME/$f" >/dev/null 2>&1; then echo "$where READ $f"; else echo "$where denied read $f"; fi
done
if grep -q victim-secret "/proc/$VICTIM_PID/environ" 2>/dev/null; then echo "$where READ environ"; else echo "$where denied environ"; fi
for f in apps/victim/releases/v1/message.txt apps/victim/data/pwned; do
  if (echo pwned > "$TEST_HOME/$f") 2>/dev/null; then echo "$where WROTE $f"; else echo "$where denied write $f"; fi
done
if kill -9 "$VICTIM_PID" 2>/dev/null; then echo "$where KILLED victim"; else echo "$where denied kill"; fi
if python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])' "$TEST_HOME/control.sock" 2>/dev/null; then echo "$where CONNECTED control.sock"; else echo "$where denied control.sock"; fi
if [ -e /var/run/docker.sock ]; then echo "$where SEES docker.sock"; else echo "$where denied docker.sock"; fi
`;

const PLACES = ['build', 'hook', 'predeploy', 'release', 'web', 'postdeploy', 'run'] as const;
const BREACH = /\b(build|hook|predeploy|release|web|postdeploy|run|archive) (READ|WROTE|KILLED|CONNECTED|SEES)\b.*/g;

/** The hostile app: the probe in its build, `.slipway/configure`, app.json scripts, release phase, web process. */
function hostileRepo(): string {
  const repo = appRepo('procfile-hello');
  fs.writeFileSync(path.join(repo, 'probe.sh'), PROBE);
  fs.writeFileSync(path.join(repo, 'Procfile'), 'web: sh probe.sh web; exec node server.js\nrelease: sh probe.sh release\n');
  fs.writeFileSync(
    path.join(repo, 'app.json'),
    JSON.stringify({ scripts: { predeploy: 'sh probe.sh predeploy', postdeploy: 'sh probe.sh postdeploy' } }),
  );
  fs.mkdirSync(path.join(repo, '.slipway'));
  fs.writeFileSync(path.join(repo, '.slipway', 'configure'), '#!/bin/sh\nexec sh probe.sh hook\n', { mode: 0o755 });
  // A build sees config through ENV_DIR only (buildpack API v2).
  addBuildpack(repo, 'probe-bp', 'export TEST_HOME="$(cat "$3/TEST_HOME")" VICTIM_PID="$(cat "$3/VICTIM_PID")"; sh "$1/probe.sh" build');
  commitAll(repo, 'hostile');
  return repo;
}

/** `ssh slipway@… CMD` without blocking the event loop, so the victim's poller keeps polling. */
function sshAsync(key: string, port: number, command: string[]): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn('ssh', [...sshArgs(key, port), ...command], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

async function victimContainer(): Promise<Docker.ContainerInspectInfo> {
  const [c] = await instanceContainers(docker, { app: 'victim' });
  return docker.getContainer(c!.Id).inspect();
}

describe('hostile tenants under --driver docker (real dockerd)', function () {
  this.timeout(600_000);
  requires('docker', 'stack');
  before(function () {
    this.timeout(30 * 60_000);
    const r = spawnSync(BIN, ['stack:build'], { encoding: 'utf8', timeout: 30 * 60_000 });
    if (r.status !== 0) throw new Error(`stack:build failed: ${r.stdout}${r.stderr}`);
  });
  const env = useServer({ env: { SLIPWAY_DRIVER: 'docker' } });
  const mallory = sshKey();
  /** Everything the hostile app's guests printed: push output, `run`, its app log. */
  let seen = '';
  let victimStart: Docker.ContainerInspectInfo;
  const poll = { answers: 0, failures: [] as string[], timer: undefined as NodeJS.Timeout | undefined };
  const asMallory = (...command: string[]) => sshAsync(mallory.key, env.server.ports.ssh, command);

  before(async function () {
    this.timeout(300_000);
    const { server, key } = env;
    expect(server.cli(['users:add', 'mallory']).code).to.equal(0);
    expect(server.cli(['keys:add', '--user', 'mallory', mallory.pub]).code).to.equal(0);
    expect(server.cli(['apps:create', 'victim']).code).to.equal(0);
    expect(server.cli(['config:set', 'victim', '--secret', 'VICTIM_SECRET=victim-secret-value']).code).to.equal(0);
    const repo = appRepo('procfile-hello');
    setMessage(repo, 'victim body');
    const pushed = await push(repo, server.sshRemote('victim'), { sshCommand: key.sshCommand });
    expect(pushed.code, pushed.stderr).to.equal(0);
    fs.writeFileSync(path.join(server.home, 'apps', 'victim', 'data', 'private.txt'), 'victim data\n');
    victimStart = await victimContainer();
    // The victim answers with its own body all along: polled until the suite ends.
    poll.timer = setInterval(() => {
      void server.get('victim').then(
        (r) => (r.status === 200 && r.body === 'victim body' ? poll.answers++ : poll.failures.push(`${r.status} ${r.body.slice(0, 80)}`)),
        (err: Error) => poll.failures.push(err.message),
      );
    }, 250);
    // The attack, here so each test below may run alone: a member's app whose every stage probes the host.
    expect((await asMallory('apps:create', 'hostile')).code).to.equal(0);
    const victimPid = String(victimStart.State.Pid);
    expect((await asMallory('config:set', 'hostile', `TEST_HOME=${server.home}`, `VICTIM_PID=${victimPid}`)).code).to.equal(0);
    const attack = await push(hostileRepo(), server.sshRemote('hostile'), { sshCommand: mallory.sshCommand });
    expect(attack.code, attack.stderr).to.equal(0);
    seen += attack.stderr;
    const ran = await asMallory('run', 'hostile', '--', 'sh', 'probe.sh', 'run');
    expect(ran.code, ran.stderr).to.equal(0);
    seen += ran.stdout;
    const logs = await asMallory('logs', 'hostile', '-n', '200');
    seen += logs.stdout;
  });

  after(async () => {
    clearInterval(poll.timer);
    if (env.server) await removeFromEngine(docker, [`slipway.home=${homeId(env.server.home)}`]);
  });

  it('a member pushes an app whose build, hook, predeploy, release phase, web and postdeploy probe the host: every attempt fails', async () => {
    for (const where of PLACES) {
      expect(seen, `the probe ran in ${where}`).to.match(new RegExp(`probe ${where} uid=\\d+ cap=0000000000000000`));
      for (const attempt of [
        'read slipway.db',
        'read secret.key',
        'read ssh_host_ed25519_key',
        'read apps/victim/data/private.txt',
        'environ',
        'write apps/victim/data/pwned',
        'kill',
        'control.sock',
        'docker.sock',
      ]) {
        expect(seen, `${where}: ${attempt}`).to.include(`${where} denied ${attempt}`);
      }
    }
    expect(seen.match(BREACH) ?? []).to.deep.equal([]);
    expect(seen).to.not.include('victim-secret-value');
  });

  it("every guest of the app runs as the app's own uid: not root, not the victim's, owner of its data dir", async () => {
    const uids = new Set([...seen.matchAll(/probe \w+ uid=(\d+)/g)].map((m) => Number(m[1])));
    expect(uids.size, [...uids].join(' ')).to.equal(1);
    const [uid] = [...uids];
    expect(uid).to.not.equal(0);
    expect(fs.statSync(path.join(env.server.home, 'apps', 'hostile', 'data')).uid).to.equal(uid);
    const victim = env.server.cli(['run', 'victim', '--', 'id', '-u']);
    expect(victim.code, victim.stderr).to.equal(0);
    expect(Number(victim.stdout.trim())).to.not.be.oneOf([0, uid]);
  });

  it("the victim's release, data and process are untouched, and it served its own body throughout", async () => {
    const home = env.server.home;
    expect(fs.readFileSync(path.join(home, 'apps', 'victim', 'releases', 'v1', 'message.txt'), 'utf8')).to.equal('victim body\n');
    expect(fs.existsSync(path.join(home, 'apps', 'victim', 'data', 'pwned'))).to.equal(false);
    const now = await victimContainer();
    expect(now.Id).to.equal(victimStart.Id);
    expect(now.State.StartedAt).to.equal(victimStart.State.StartedAt);
    expect(now.RestartCount).to.equal(0);
    expect(poll.failures).to.deep.equal([]);
    expect(poll.answers).to.be.greaterThan(10);
  });

  it("the archive stage keeps the app's links as links: its snapshot carries no host file, its dump dir writes none", async () => {
    const { server } = env;
    const ln = await asMallory('run', 'hostile', '--', 'ln', '-s', path.join(server.home, 'secret.key'), '/data/steal');
    expect(ln.code, ln.stderr).to.equal(0);
    const repo = hostileRepo();
    // Run by the live release at the next deploy: one aims the daemon's release.json at slipway.db, one reads the snapshot.
    fs.writeFileSync(
      path.join(repo, '.slipway', 'pre_archive'),
      '#!/bin/sh\nln -s "$TEST_HOME/slipway.db" "$SLIPWAY_SNAPSHOT_DIR/release.json"\n',
      { mode: 0o755 },
    );
    fs.writeFileSync(
      path.join(repo, '.slipway', 'post_archive'),
      '#!/bin/sh\nif tar -xzOf "$SLIPWAY_SNAPSHOT" data/steal | grep -q .; then echo "archive READ secret.key"; else echo "archive denied secret.key"; fi\n',
      { mode: 0o755 },
    );
    commitAll(repo, 'archive scripts');
    for (let i = 0; i < 2; i++) {
      if (i) setMessage(repo, 'again');
      const pushed = await push(repo, server.sshRemote('hostile'), { sshCommand: mallory.sshCommand, args: ['--force'] });
      expect(pushed.stderr).to.include('is live at');
      seen += pushed.stderr;
    }
    expect(seen).to.include('archive denied secret.key');
    expect(seen.match(BREACH) ?? []).to.deep.equal([]);
    expect(fs.readFileSync(path.join(server.home, 'slipway.db')).subarray(0, 15).toString()).to.equal('SQLite format 3');
    expect((await server.get('victim')).body).to.equal('victim body');
  });

  describe('images', () => {
    let token: string;
    let secretImage: string;
    /** The image build job POST /api/v1/images started (its queue URL). */
    let buildJob = '';
    const api = (urlPath: string, init: RequestInit = {}) =>
      fetch(`http://127.0.0.1:${env.server.ports.http}${urlPath}`, {
        ...init,
        redirect: 'manual',
        headers: { authorization: `Bearer ${token}`, ...init.headers },
      });

    before(async () => {
      const { server, key } = env;
      token = server.cli(['tokens:create', '--user', 'mallory', '--name', 'images']).stdout.trim();
      expect(server.cli(['apps:create', 'secretimg']).code).to.equal(0);
      const pushed = await push(appRepo('dockerfile-hello'), server.sshRemote('secretimg'), { sshCommand: key.sshCommand });
      expect(pushed.code, pushed.stderr).to.equal(0);
      secretImage = (await docker.getImage('slipway/secretimg:v1').inspect()).Id;
      // mallory's own app, which the tests below build into (each may run alone).
      expect((await asMallory('apps:create', 'thief')).code).to.equal(0);
    });

    function dockerfileRepo(from: string): string {
      const repo = appRepo('dockerfile-hello');
      fs.writeFileSync(
        path.join(repo, 'Dockerfile'),
        `ARG BASE=${from}\nFROM $BASE\nCOPY . /app\nWORKDIR /app\nCMD ["node", "server.js"]\n`,
      );
      commitAll(repo, `from ${from}`);
      return repo;
    }

    it("a push FROM another user's app image is refused before anything is built, naming the image", async () => {
      const { server } = env;
      for (const from of ['slipway/secretimg:v1', secretImage.slice(7, 19)]) {
        const pushed = await push(dockerfileRepo(from), server.sshRemote('thief'), { sshCommand: mallory.sshCommand, args: ['--force'] });
        expect(pushed.stderr).to.include(`failed at build: the Dockerfile may not build from ${from} (line 2)`);
        expect(pushed.stderr).to.not.match(/Step 1\/\d+/);
      }
    });

    it("POST /api/v1/images FROM another user's app image answers 403; FROM the caller's own app image is accepted", async () => {
      const { server } = env;
      const pushed = await push(dockerfileRepo('slipway/stack:bookworm'), server.sshRemote('thief'), {
        sshCommand: mallory.sshCommand,
        args: ['--force'],
      });
      expect(pushed.code, pushed.stderr).to.equal(0);
      const [own] = await docker.listImages({ filters: { label: [`slipway.home=${homeId(server.home)}`, 'slipway.app=thief'] } });
      const ownTag = own!.RepoTags![0]!;
      const upload = async (from: string) => {
        const dir = tmpdir('ctx');
        fs.writeFileSync(path.join(dir, 'Dockerfile'), `FROM ${from}\nRUN true\n`);
        const tgz = path.join(tmpdir('tgz'), 'ctx.tgz');
        expect(spawnSync('tar', ['-czf', tgz, '-C', dir, '.']).status).to.equal(0);
        return api('/api/v1/images?app=thief&tag=mine', {
          method: 'POST',
          headers: { 'content-type': 'application/gzip' },
          body: fs.readFileSync(tgz),
        });
      };
      const refused = await upload('slipway/secretimg:v1');
      const answer = (await refused.json()) as { error: string; message: string };
      expect(refused.status, answer.message).to.equal(403);
      expect(answer.error).to.equal('base_image_forbidden');
      expect(answer.message).to.include('slipway/secretimg:v1');
      const accepted = await upload(ownTag);
      expect(accepted.status, await accepted.text()).to.equal(202);
      buildJob = accepted.headers.get('location')!;
    });

    it("an image whose LABELs name the victim's scratch dir and standby mount point: removing its container leaves both", async () => {
      const { server } = env;
      const [victim] = await instanceContainers(docker, { app: 'victim' });
      const scratch = victim!.Labels['slipway.scratch']!;
      let standby: Docker.ContainerInfo | undefined;
      await eventually(
        async () => !!(standby = (await docker.listContainers({ filters: { label: ['slipway.app=victim', 'slipway.role=standby'] } }))[0]),
        "the victim's standby",
      );
      const slot = standby!.Labels['slipway.slot']!;
      expect(fs.existsSync(scratch), scratch).to.equal(true);
      expect(fs.existsSync(slot), slot).to.equal(true);
      expect((await asMallory('apps:create', 'labeller')).code).to.equal(0);
      const repo = dockerfileRepo('slipway/stack:bookworm');
      fs.appendFileSync(path.join(repo, 'Dockerfile'), `LABEL slipway.scratch="${scratch}" slipway.slot="${slot}"\n`);
      commitAll(repo, 'labels naming the victim');
      const pushed = await push(repo, server.sshRemote('labeller'), { sshCommand: mallory.sshCommand });
      expect(pushed.code, pushed.stderr).to.equal(0);
      const destroyed = await asMallory('apps:destroy', 'labeller', '--confirm', 'labeller');
      expect(destroyed.code, destroyed.stderr).to.equal(0);
      expect(fs.existsSync(scratch), scratch).to.equal(true);
      expect(fs.existsSync(slot), slot).to.equal(true);
      expect((await server.get('victim')).body).to.equal('victim body');
    });

    it('apps:destroy leaves no container, image or volume of the app, and a new app of that name inherits nothing', async () => {
      const { server } = env;
      const label = (app: string) => [`slipway.home=${homeId(server.home)}`, `slipway.app=${app}`];
      // The image build of the test above runs in the queue: let it end first (303 to the image once built).
      if (buildJob) await eventually(async () => (await api(buildJob)).status === 303, 'the image build to finish', 180_000);
      // Run alone, thief has no image yet: a push of a Dockerfile app gives it one.
      if (!(await docker.listImages({ filters: { label: label('thief') } })).length) {
        const pushed = await push(dockerfileRepo('slipway/stack:bookworm'), server.sshRemote('thief'), {
          sshCommand: mallory.sshCommand,
          args: ['--force'],
        });
        expect(pushed.code, pushed.stderr).to.equal(0);
      }
      expect((await docker.listImages({ filters: { label: label('thief') } })).length).to.be.greaterThan(0);
      expect((await docker.listVolumes({ filters: { label: label('hostile') } })).Volumes?.length).to.be.greaterThan(0);
      for (const app of ['thief', 'hostile']) {
        const destroyed = await asMallory('apps:destroy', app, '--confirm', app);
        expect(destroyed.code, destroyed.stderr).to.equal(0);
        expect(await docker.listContainers({ all: true, filters: { label: label(app) } })).to.deep.equal([]);
        expect(await docker.listImages({ filters: { label: label(app) } })).to.deep.equal([]);
        expect((await docker.listVolumes({ filters: { label: label(app) } })).Volumes ?? []).to.deep.equal([]);
      }
      expect((await asMallory('apps:create', 'thief')).code).to.equal(0);
      expect(await (await api('/api/v1/images?app=thief')).json()).to.deep.equal([]);
    });
  });
});
