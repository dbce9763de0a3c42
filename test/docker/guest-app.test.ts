import { expect } from 'chai';
import Docker from 'dockerode';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { homeId } from '../../src/docker/labels.js';
import { BIN, addBuildpack, appRepo, commitAll, eventually, push, setMessage, useServer, type Result } from '../e2e/harness.js';
import { removeFromEngine } from '../support/engine-cleanup.js';
import { requires } from '../support/requires.js';

const docker = new Docker({ socketPath: (process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock').replace(/^unix:\/\//, '') });

/**
 * A web process that writes /app/tmp/pids/x at start, as Rails does, and
 * answers with what its own /app holds: whether that file was already there,
 * what it says, and what the release phase and predeploy left.
 */
const SERVER = `const fs = require('node:fs');
const http = require('node:http');
const fresh = !fs.existsSync('/app/tmp/pids/x');
fs.mkdirSync('/app/tmp/pids', { recursive: true });
fs.writeFileSync('/app/tmp/pids/x', process.env.DYNO);
const has = (f) => (fs.existsSync(f) ? 'yes' : 'no');
http.createServer((req, res) => {
  const own = fs.readFileSync('/app/tmp/pids/x', 'utf8');
  res.end(\`\${process.env.DYNO} own=\${own} fresh=\${fresh ? 'yes' : 'no'} release.test=\${has('/app/release.test')} predeploy=\${has('/app/predeploy.txt')} \${fs.readFileSync('message.txt', 'utf8').trim()}\`);
}).listen(process.env.PORT);
`;

/** Grows by 32 MiB every 100 ms until the kernel stops it. */
const HOG = "node -e 'const a = []; setInterval(() => a.push(Buffer.alloc(32 << 20, 1)), 100)'";

/** Forks sleeping children until fork fails, then says how many it got. */
const FORK_LOOP = `import os, time
n = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(120)
            os._exit(0)
        n += 1
except OSError as e:
    print("fork stopped after", n, "children:", e.strerror)
`;

function guestRepo(): string {
  const repo = appRepo('procfile-hello');
  fs.writeFileSync(path.join(repo, 'server.js'), SERVER);
  fs.writeFileSync(path.join(repo, 'Procfile'), `web: node server.js\nrelease: touch /app/release.test\nhog: ${HOG}\n`);
  fs.writeFileSync(
    path.join(repo, 'app.json'),
    JSON.stringify({ scripts: { predeploy: 'echo predeployed > /app/predeploy.txt', postdeploy: 'touch /app/postdeploy.txt' } }),
  );
  setMessage(repo, 'one');
  commitAll(repo, 'guest app');
  return repo;
}

describe('the docker guest: /app and limits (real dockerd)', function () {
  this.timeout(600_000);
  requires('docker', 'stack');
  before(function () {
    this.timeout(30 * 60_000);
    const r = spawnSync(BIN, ['stack:build'], { encoding: 'utf8', timeout: 30 * 60_000 });
    if (r.status !== 0) throw new Error(`stack:build failed: ${r.stdout}${r.stderr}`);
  });
  const env = useServer({ env: { SLIPWAY_DRIVER: 'docker' } });
  let repo: string;
  after(async () => {
    if (env.server) await removeFromEngine(docker, [`slipway.home=${homeId(env.server.home)}`]);
  });

  /** Bodies of `n` requests through the router (it balances across the web instances). */
  async function bodies(n: number): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push((await env.server.get('guest')).body);
    return out;
  }

  // Every test may run alone: v1 of guest is pushed here.
  let pushed: Result;
  before(async () => {
    const { server, key } = env;
    expect(server.cli(['apps:create', 'guest']).code).to.equal(0);
    repo = guestRepo();
    pushed = await push(repo, server.sshRemote('guest'), { sshCommand: key.sshCommand });
    expect(pushed.code, pushed.stderr).to.equal(0);
  });

  it('the release command writes /app, the web process writes /app/tmp/pids at start; neither reaches the release', async () => {
    const { server } = env;
    expect(pushed.stderr).to.include('Running release command: touch /app/release.test');
    expect(pushed.stderr).to.include('is live at');
    expect((await server.get('guest')).body).to.equal('web.1 own=web.1 fresh=yes release.test=no predeploy=yes one');
    const release = path.join(server.home, 'apps', 'guest', 'releases', 'v1');
    expect(fs.existsSync(path.join(release, 'release.test'))).to.equal(false);
    expect(fs.existsSync(path.join(release, 'tmp'))).to.equal(false);
    expect(fs.existsSync(path.join(release, 'postdeploy.txt'))).to.equal(false);

    const [c] = await docker.listContainers({ filters: { label: ['slipway.app=guest', 'slipway.process=web'] } });
    const info = await docker.getContainer(c!.Id).inspect();
    expect(info.Config.User).to.match(/^[1-9]\d*:[1-9]\d*$/);
    expect(info.HostConfig).to.include({ Memory: 512 * 1024 * 1024, MemorySwap: 512 * 1024 * 1024, PidsLimit: 256, CpuShares: 1024 });
    expect(info.HostConfig.CapDrop).to.deep.equal(['ALL']);
    expect(info.HostConfig.SecurityOpt).to.deep.equal(['no-new-privileges']);
  });

  it("predeploy's writes are kept in the release (run sees them); postdeploy's and the instances' are not", async () => {
    const { server } = env;
    const ran = server.cli([
      'run',
      'guest',
      '--',
      'sh',
      '-c',
      'cat /app/predeploy.txt; ls /app/postdeploy.txt /app/tmp/pids/x /app/release.test 2>&1 | wc -l; id -u',
    ]);
    expect(ran.code, ran.stderr).to.equal(0);
    const [kept, missing, uid] = ran.stdout.trim().split('\n');
    expect(kept).to.equal('predeployed');
    // Three "No such file" lines: none of those writes reached the release a one-off starts from.
    expect(missing!.trim()).to.equal('3');
    expect(Number(uid)).to.be.greaterThan(0);
    expect(fs.readFileSync(path.join(server.home, 'apps', 'guest', 'releases', 'v1', 'predeploy.txt'), 'utf8')).to.equal('predeployed\n');
    const archives = path.join(server.home, 'apps', 'guest', 'archives');
    const listed = spawnSync('tar', ['-tzf', path.join(archives, fs.readdirSync(archives)[0]!)], { encoding: 'utf8' }).stdout.split('\n');
    expect(listed).to.include('predeploy.txt');
    expect(listed).to.not.include('postdeploy.txt');
  });

  it("two instances do not see each other's writes", async () => {
    const { server } = env;
    expect(server.cli(['ps:scale', 'guest', 'web=2']).code).to.equal(0);
    const seen = new Set<string>();
    await eventually(async () => {
      for (const b of await bodies(4)) seen.add(b.split(' ').slice(0, 2).join(' '));
      return seen.size >= 2;
    }, 'both instances to answer');
    expect([...seen].sort()).to.deep.equal(['web.1 own=web.1', 'web.2 own=web.2']);
  });

  it('a new deploy starts from the release, not from what the old instances wrote', async () => {
    const { server, key } = env;
    expect(server.cli(['ps:scale', 'guest', 'web=2']).code).to.equal(0);
    setMessage(repo, 'two');
    const pushed = await push(repo, server.sshRemote('guest'), { sshCommand: key.sshCommand });
    expect(pushed.code, pushed.stderr).to.equal(0);
    const seen = new Set(await bodies(6));
    expect([...seen].sort()).to.deep.equal([
      'web.1 own=web.1 fresh=yes release.test=no predeploy=yes two',
      'web.2 own=web.2 fresh=yes release.test=no predeploy=yes two',
    ]);
  });

  it('a process allocating past its memory limit is killed, and ps and logs say so (R15)', async () => {
    const { server } = env;
    expect(server.cli(['ps:scale', 'guest', 'hog=1']).code).to.equal(0);
    await eventually(
      () => /^hog\.1\s+crashed \(memory\)/m.test(server.cli(['ps', 'guest']).stdout),
      'ps to show hog.1 crashed (memory)',
      120_000,
    );
    const logs = server.cli(['logs', 'guest', '--ps', 'hog.1', '-n', '50']);
    expect(logs.stdout).to.match(/slipway\[hog\.1\]: Error R15 \(Memory quota vastly exceeded\): killed at its 512 MB memory limit/);
    expect(server.cli(['ps:scale', 'guest', 'hog=0']).code).to.equal(0);
    expect((await server.get('guest')).status).to.equal(200);
  });

  it("an editable app's build cannot touch the server's git repository in its work tree, and pushes keep working", async () => {
    const { server, key } = env;
    expect(server.cli(['apps:create', 'devapp', '--env', 'dev']).code).to.equal(0);
    const dev = appRepo('procfile-hello');
    // git runs this config's fsmonitor as the server's user on the next push, were the build able to write it.
    addBuildpack(
      dev,
      'git-bp',
      'if printf "[core]\\n\\tfsmonitor = touch /tmp/slipway-pwned\\n" >> "$1/.git/config" 2>/dev/null; then echo "git config WRITTEN"; else echo "git config denied"; fi',
    );
    for (const text of ['dev one', 'dev two']) {
      setMessage(dev, text);
      const pushed = await push(dev, server.sshRemote('devapp'), { sshCommand: key.sshCommand });
      expect(pushed.stderr).to.include('git config denied');
      expect((await server.get('devapp')).body, pushed.stderr).to.equal(text);
    }
    // The work tree's repository lives apart (apps/APP/work.git); its `.git` is only a pointer.
    expect(fs.readFileSync(path.join(server.home, 'apps', 'devapp', 'work.git', 'config'), 'utf8')).to.not.include('fsmonitor');
  });

  it('a fork loop stops at the pids limit while the server and other apps keep answering', async () => {
    const { server, key } = env;
    expect(server.cli(['apps:create', 'other']).code).to.equal(0);
    const other = appRepo('procfile-hello');
    setMessage(other, 'other app');
    expect((await push(other, server.sshRemote('other'), { sshCommand: key.sshCommand })).code).to.equal(0);
    const loop = server.cliAsync(['run', 'guest', '--', 'python3', '-c', FORK_LOOP]);
    let answers = 0;
    let done = false;
    void loop.then(() => (done = true));
    while (!done) {
      expect((await server.get('other')).body).to.equal('other app');
      const info = await server.cliAsync(['apps:info', 'guest']);
      expect(info.code, `apps:info during the fork loop: ${info.stderr}${info.stdout}`).to.equal(0);
      answers++;
    }
    const r = await loop;
    expect(r.code, r.stderr).to.equal(0);
    const m = /fork stopped after (\d+) children: Resource temporarily unavailable/.exec(r.stdout);
    expect(m, r.stdout).to.not.equal(null);
    expect(Number(m![1])).to.be.lessThan(256);
    expect(answers).to.be.greaterThan(0);
    expect((await server.get('guest')).status).to.equal(200);
  });
});
