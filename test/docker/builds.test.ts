import { expect } from 'chai';
import { STACK_IMAGE } from '../../src/docker/engine.js';
import { homeId } from '../../src/docker/labels.js';
import Docker from 'dockerode';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { addBuildpack, appRepo, commitAll, git, push, setMessage, useServer, type Result, type TestServer } from '../e2e/harness.js';
import { query } from '../e2e/db.js';
import { removeFromEngine } from '../support/engine-cleanup.js';
import { requires } from '../support/requires.js';

const docker = new Docker({ socketPath: (process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock').replace(/^unix:\/\//, '') });

const releases = (home: string, app: string) =>
  query<{ version: number; status: string; image: string | null }>(
    home,
    'SELECT version, status, image FROM releases r JOIN apps a ON a.id = r.app_id WHERE a.name = ? ORDER BY version',
    app,
  );

/** What a command prints in a throwaway container of the stack image. */
const runInStack = (argv: string[]) =>
  new Promise<string>((resolve, reject) =>
    execFile('docker', ['run', '--rm', STACK_IMAGE, ...argv], { encoding: 'utf8' }, (err, stdout) =>
      err ? reject(err) : resolve(stdout.trim()),
    ),
  );

/** Containers of one app in a role (instance, build), from the engine itself. */
async function containersOf(app: string, role: string, all = false): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all, filters: { label: [`slipway.app=${app}`, `slipway.role=${role}`] } });
}

/** The build containers of an app's jobs: not the one waiting for its next build (warm-build.test.ts). */
async function jobBuildsOf(app: string): Promise<Docker.ContainerInfo[]> {
  return (await containersOf(app, 'build', true)).filter((c) => !c.Names.some((n) => n.endsWith('-build-next')));
}

/** Removes what the tests' apps left in the engine: containers, images, the cache volume. */
const cleanUp = (app: string) => removeFromEngine(docker, [`slipway.app=${app}`]);

/** The app's live release, as the store records it. */
const liveVersion = (home: string, app: string) =>
  query<{ current_release: number }>(home, 'SELECT current_release FROM apps WHERE name = ?', app)[0]!.current_release;

/**
 * Gives the work tree and index of `repo` the tree of commit `base` (files
 * added since removed), on top of its history, so the next commit pushes
 * as a fast-forward.
 */
function restoreTree(repo: string, base: string): void {
  for (const args of [
    ['reset', '-q', '--hard', base],
    ['reset', '-q', '--soft', 'HEAD@{1}'],
  ]) {
    const r = git(repo, args);
    if (r.code !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  }
}

/** The `Image:` line of `releases:info`. */
function imageOf(server: TestServer, app: string, version: string): string | undefined {
  const info = server.cli(['releases:info', app, version]);
  expect(info.code, info.stderr).to.equal(0);
  return /^Image:\s+(\S+)/m.exec(info.stdout)?.[1];
}

describe('Dockerfile apps (real dockerd)', function () {
  this.timeout(300_000);
  requires('docker', 'stack');
  const env = useServer({ env: { SLIPWAY_DRIVER: 'docker' } });
  const APP = 'dfhello';
  /** The app of the buildpack test: naming a buildpack changes what every later push of an app builds. */
  const BP_APP = 'dfbuildpack';
  let repo: string;
  /** The first commit: each test starts from its tree, so what one test adds to the repo is never another's. */
  let base: string;
  /** Steps a failed build left as untagged cache images (` ---> id` lines); removed after. */
  const intermediates: string[] = [];
  /** v1 as it was right after its push, read before any test changes the app. */
  let first: {
    pushed: Result;
    body: string;
    image: string;
    inspect: Docker.ImageInspectInfo;
    instances: Docker.ContainerInfo[];
    container: Docker.ContainerInspectInfo;
  };

  // Every test may run alone, in any order: v1 is pushed here; each test reads the live release it starts from.
  before(async () => {
    const { server, key } = env;
    expect(server.cli(['apps:create', APP]).code).to.equal(0);
    repo = appRepo('dockerfile-hello');
    base = setMessage(repo, 'from a Dockerfile');
    const pushed = await push(repo, server.sshRemote(APP), { sshCommand: key.sshCommand });
    expect(pushed.code, pushed.stderr).to.equal(0);
    const image = imageOf(server, APP, 'v1')!;
    const instances = await containersOf(APP, 'instance');
    first = {
      pushed,
      body: (await server.get(APP)).body,
      image,
      inspect: await docker.getImage(image).inspect(),
      instances,
      container: await docker.getContainer(instances[0]!.Id).inspect(),
    };
  });

  beforeEach(() => {
    if (!env.server) return;
    restoreTree(repo, base);
    expect(env.server.cli(['apps:set', APP, 'releases.keep=']).code).to.equal(0);
  });

  after(async () => {
    // A suite skipped for a missing engine started nothing.
    if (!env.server) return;
    await cleanUp(APP);
    await cleanUp(BP_APP);
    // Only untagged ones: the same lines also name the tagged stack image (FROM), which is shared.
    for (const id of intermediates) {
      const tags = await docker
        .getImage(id)
        .inspect()
        .then(
          (i) => i.RepoTags ?? [],
          () => ['gone'],
        );
      if (!tags.length)
        await docker
          .getImage(id)
          .remove()
          .catch(() => undefined);
    }
  });

  /** Pushes the repo as it is; resolves with git's output and the version the push made. */
  const pushNext = async (): Promise<Result & { version: number }> => {
    const { server, key } = env;
    const version = releases(server.home, APP).length + 1;
    const pushed = await push(repo, server.sshRemote(APP), { sshCommand: key.sshCommand });
    return { ...pushed, version };
  };

  it('a Dockerfile app deploys: its image is built, recorded on the release, and serves', () => {
    const { pushed, body, image, inspect, instances, container } = first;
    expect(pushed.stderr).to.include('Dockerfile app detected');
    expect(pushed.stderr).to.match(/Step 1\/\d+ : FROM slipway\/stack:bookworm/);
    expect(body).to.equal('from a Dockerfile');
    expect(image).to.match(/^sha256:[0-9a-f]{64}$/);
    expect(inspect.RepoTags).to.include(`slipway/${APP}:v1`);
    expect(inspect.Config.Labels).to.include({ 'slipway.app': APP, 'slipway.release': '1', 'slipway.role': 'image' });
    expect(instances.map((c) => c.ImageID)).to.deep.equal([image]);
    expect(container.Config.Env).to.include.members(['HOME=/app', 'PORT=5000']);
    // The app is the image's own copy: no release directory is mounted over /app.
    expect(container.Mounts.map((m) => m.Destination)).to.not.include('/app');
    expect(container.Config.Cmd).to.deep.equal(['node', 'server.js']);
  });

  it('a Dockerfile whose RUN fails is reported in the push output and rolled back', async () => {
    const { server } = env;
    const live = liveVersion(server.home, APP);
    const body = (await server.get(APP)).body;
    const before = await containersOf(APP, 'instance');
    fs.appendFileSync(path.join(repo, 'Dockerfile'), 'RUN echo "about to fail" && exit 3\n');
    commitAll(repo, 'a failing RUN');
    const pushed = await pushNext();
    intermediates.push(...[...pushed.stderr.matchAll(/ ---> ([0-9a-f]{12})\b/g)].map((m) => m[1]!));
    expect(pushed.stderr).to.include('about to fail');
    expect(pushed.stderr).to.match(
      new RegExp(`Deploy of dfhello v${pushed.version} failed at build: the Dockerfile build failed: .*returned a non-zero code: 3`),
    );
    expect(pushed.stderr).to.include(`v${live} is still serving`);
    expect((await server.get(APP)).body).to.equal(body);
    expect(releases(server.home, APP).at(-1)).to.include({ version: pushed.version, status: 'failed' });
    expect(liveVersion(server.home, APP)).to.equal(live);
    expect((await containersOf(APP, 'instance')).map((c) => c.Id)).to.deep.equal(before.map((c) => c.Id));
  });

  it('a Procfile command runs in the image, one-offs too; rollback reuses the recorded image', async () => {
    const { server } = env;
    const live = liveVersion(server.home, APP);
    const liveImage = imageOf(server, APP, `v${live}`)!;
    const liveBody = (await server.get(APP)).body;
    fs.appendFileSync(path.join(repo, 'Dockerfile'), 'RUN echo made by the image build > /etc/slipway-marker\n');
    fs.writeFileSync(path.join(repo, 'Procfile'), 'web: exec node server.js\n');
    setMessage(repo, 'with a Procfile');
    const pushed = await pushNext();
    expect(pushed.code, pushed.stderr).to.equal(0);
    expect((await server.get(APP)).body).to.equal('with a Procfile');
    const [c] = await containersOf(APP, 'instance');
    const info = await docker.getContainer(c!.Id).inspect();
    expect(info.Image).to.equal(imageOf(server, APP, `v${pushed.version}`));
    expect(info.Config.Entrypoint).to.deep.equal(['bash']);
    expect(info.Config.Cmd!.at(-1)).to.equal('exec node server.js');
    // Only the image has this file; a stack container would not.
    const oneOff = server.cli(['run', APP, '--', 'cat', '/etc/slipway-marker']);
    expect(oneOff.stdout, oneOff.stderr).to.include('made by the image build');

    const back = server.cli(['rollback', APP, `v${live}`]);
    expect(back.code, back.stderr).to.equal(0);
    expect(back.stdout).to.include(`Reusing image ${liveImage.slice(7, 19)}`);
    expect((await server.get(APP)).body).to.equal(liveBody);
    expect(imageOf(server, APP, `v${pushed.version + 1}`)).to.equal(liveImage);
    expect((await containersOf(APP, 'instance')).map((x) => x.ImageID)).to.deep.equal([liveImage]);
  });

  it('an app that names a buildpack is built with it even with a Dockerfile', async () => {
    const { server, key } = env;
    expect(server.cli(['apps:create', BP_APP]).code).to.equal(0);
    expect(server.cli(['apps:set', BP_APP, 'buildpack_url=nodejs']).code).to.equal(0);
    const bpRepo = appRepo('dockerfile-hello');
    fs.writeFileSync(
      path.join(bpRepo, 'package.json'),
      JSON.stringify({ name: 'dfhello', version: '1.0.0', scripts: { start: 'node server.js' } }),
    );
    setMessage(bpRepo, 'buildpack wins');
    const pushed = await push(bpRepo, server.sshRemote(BP_APP), { sshCommand: key.sshCommand });
    expect(pushed.code, pushed.stderr).to.equal(0);
    expect(pushed.stderr).to.not.include('Dockerfile app detected');
    expect(pushed.stderr).to.include('Building inside a container from the stack image');
    expect((await server.get(BP_APP)).body).to.equal('buildpack wins');
    expect(imageOf(server, BP_APP, 'v1')).to.equal(undefined);
  });

  it('pruning old releases removes the images nothing kept runs from', async () => {
    const { server } = env;
    const live = liveVersion(server.home, APP);
    const liveImage = imageOf(server, APP, `v${live}`)!;
    expect(server.cli(['apps:set', APP, 'releases.keep=2']).code).to.equal(0);
    setMessage(repo, 'to be pruned');
    const pruned = await pushNext();
    expect(pruned.code, pruned.stderr).to.equal(0);
    const prunedImage = imageOf(server, APP, `v${pruned.version}`)!;
    // A rollback runs from the live release's image again, so that image outlives its release.
    const back = server.cli(['rollback', APP, `v${live}`]);
    expect(back.code, back.stderr).to.equal(0);
    setMessage(repo, 'after pruning');
    const pushed = await pushNext();
    expect(pushed.code, pushed.stderr).to.equal(0);
    expect(pushed.stderr).to.include(`Pruned old releases: v${pruned.version}`);
    const status = (v: number) => releases(server.home, APP).find((r) => r.version === v)?.status;
    expect([live, pruned.version, pruned.version + 1, pushed.version].map(status)).to.deep.equal([
      'pruned',
      'pruned',
      'succeeded',
      'succeeded',
    ]);
    const err = await docker
      .getImage(prunedImage)
      .inspect()
      .then(
        () => undefined,
        (e: { statusCode?: number }) => e,
      );
    expect(err?.statusCode, prunedImage).to.equal(404);
    // v<live> is pruned, but the rollback kept runs from its image.
    expect((await docker.getImage(liveImage).inspect()).Id).to.equal(liveImage);
  });

  it('a rollback whose image is gone builds it again from the release archive', async () => {
    const { server } = env;
    setMessage(repo, 'image to lose');
    const lostRelease = await pushNext();
    expect(lostRelease.code, lostRelease.stderr).to.equal(0);
    const lost = imageOf(server, APP, `v${lostRelease.version}`)!;
    setMessage(repo, 'newer');
    const newer = await pushNext();
    expect(newer.code, newer.stderr).to.equal(0);
    await docker.getImage(lost).remove({ force: true });
    const back = server.cli(['rollback', APP, `v${lostRelease.version}`]);
    expect(back.code, back.stderr).to.equal(0);
    expect(back.stdout).to.include(`Image ${lost.slice(7, 19)} is gone; building it again`);
    expect((await server.get(APP)).body).to.equal('image to lose');
    const rebuilt = imageOf(server, APP, `v${newer.version + 1}`)!;
    expect(rebuilt)
      .to.match(/^sha256:/)
      .and.not.equal(lost);
    expect((await containersOf(APP, 'instance')).map((c) => c.ImageID)).to.deep.equal([rebuilt]);
  });
});

describe('builds in containers (real dockerd, process-driver server)', function () {
  this.timeout(300_000);
  requires('docker', 'stack');
  const env = useServer();
  const APP = 'nodebox';
  const HOST_APP = 'dfhost';
  let repo: string;

  after(async () => {
    // A suite skipped for a missing engine started nothing.
    if (!env.server) return;
    await cleanUp(APP);
    await cleanUp(HOST_APP);
  });

  // Every test may run alone, in any order: v1 is built in a container here, and what the first test checks of it is read here.
  let pushed: Result;
  let served: string;
  let base: string;
  before(async () => {
    const { server, key } = env;
    expect(server.cli(['apps:create', APP]).code).to.equal(0);
    expect(server.cli(['apps:set', APP, 'driver=docker']).code).to.equal(0);
    repo = appRepo('node-hello');
    // The build script writes where it ran: /tmp/build is the source's mount point inside a build container.
    const pkg = JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8'));
    // And as whom: the app's user has a name in a build container too (os.userInfo() throws for a uid without one).
    pkg.scripts.build = `node -e "require('fs').writeFileSync('built-at.txt', process.cwd() + ' by ' + require('os').userInfo().username)"`;
    fs.writeFileSync(path.join(repo, 'package.json'), JSON.stringify(pkg, null, 2));
    base = setMessage(repo, 'built in a container');
    pushed = await push(repo, server.sshRemote(APP), { sshCommand: key.sshCommand });
    expect(pushed.code, pushed.stderr).to.equal(0);
    served = (await server.get(APP)).body;
  });

  beforeEach(() => {
    if (env.server) restoreTree(repo, base);
  });

  it('a buildpack app with driver=docker is built inside a stack container', async () => {
    const { server } = env;
    expect(pushed.stderr).to.include('Building inside a container from the stack image');
    // The build ran in the container, on the stack's node; `stack:build` gives the stack the host's node, so a release moves between drivers.
    expect(fs.readFileSync(path.join(server.home, 'apps', APP, 'releases', 'v1', 'built-at.txt'), 'utf8')).to.equal('/tmp/build by app');
    const stackNode = /Using host node (v\d+\.\d+\.\d+)/.exec(pushed.stderr)?.[1];
    const imageNode = await runInStack(['node', '--version']);
    expect(stackNode).to.equal(imageNode);
    expect(imageNode, "the stack image runs Debian's node: rebuild it with `bin/slipway stack:build --force`").to.equal(process.version);
    expect(served).to.equal('built in a container');
    expect(await jobBuildsOf(APP)).to.have.length(0);
    const volume = await docker.getVolume(`slipway-${homeId(server.home)}-cache-${APP}`).inspect();
    expect(volume.Labels).to.include({ 'slipway.app': APP, 'slipway.role': 'build-cache', 'slipway.home': homeId(server.home) });
  });

  it('its release archive runs with the process driver: switch drivers, roll back to it', async () => {
    const { server, key } = env;
    expect(server.cli(['apps:set', APP, 'driver=process']).code).to.equal(0);
    setMessage(repo, 'built on the host');
    const pushed = await push(repo, server.sshRemote(APP), { sshCommand: key.sshCommand });
    expect(pushed.code, pushed.stderr).to.equal(0);
    expect(pushed.stderr).to.include(`Using host node ${process.version}`);
    expect((await server.get(APP)).body).to.equal('built on the host');
    const back = server.cli(['rollback', APP, 'v1']);
    expect(back.code, back.stderr).to.equal(0);
    expect((await server.get(APP)).body).to.equal('built in a container');
    // Served by host processes: no container of the app is running.
    expect(await containersOf(APP, 'instance')).to.have.length(0);
  });

  it('a failing compile in the container fails the build with its exit code', async () => {
    const { server, key } = env;
    expect(server.cli(['apps:set', APP, 'driver=docker']).code).to.equal(0);
    const body = (await server.get(APP)).body;
    addBuildpack(repo, 'failing', 'echo "compiling in $(hostname)"; exit 7');
    commitAll(repo, 'a failing buildpack');
    const pushed = await push(repo, server.sshRemote(APP), { sshCommand: key.sshCommand });
    expect(pushed.stderr).to.match(/compiling in [0-9a-f]{12}/);
    expect(pushed.stderr).to.match(/failed at build: failing buildpack: compile failed \(exit 7\)/);
    expect((await server.get(APP)).body).to.equal(body);
    expect(await jobBuildsOf(APP)).to.have.length(0);
  });

  it('a Dockerfile app on the process driver is refused with what to do', async () => {
    const { server, key } = env;
    expect(server.cli(['apps:create', HOST_APP]).code).to.equal(0);
    const dfRepo = appRepo('dockerfile-hello');
    const pushed = await push(dfRepo, server.sshRemote(HOST_APP), { sshCommand: key.sshCommand });
    expect(pushed.stderr).to.include(`${HOST_APP} has a Dockerfile, and Dockerfile apps need the docker driver`);
    expect(pushed.stderr).to.include(`slipway apps:set ${HOST_APP} driver=docker`);
    expect(releases(server.home, HOST_APP).map((r) => r.status)).to.deep.equal(['failed']);
  });
});

describe('container builds with the engine stopped', function () {
  this.timeout(120_000);
  const env = useServer({ env: { DOCKER_HOST: 'unix:///nonexistent.sock' } });

  it("a docker app's build fails with the one line saying what to start", async () => {
    const { server, key } = env;
    expect(server.cli(['apps:create', 'noengine']).code).to.equal(0);
    expect(server.cli(['apps:set', 'noengine', 'driver=docker']).code).to.equal(0);
    const pushed = await push(appRepo('node-hello'), server.sshRemote('noengine'), { sshCommand: key.sshCommand });
    expect(pushed.stderr).to.match(
      /failed at build: cannot reach the Docker engine at unix:\/\/\/nonexistent\.sock \(no socket there\): start it/,
    );
    expect(releases(server.home, 'noengine').map((r) => r.status)).to.deep.equal(['failed']);
  });
});
