import { expect } from 'chai';
import Docker from 'dockerode';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { addBuildpack, appRepo, commitAll, eventually, push, pushWithHook, setMessage, useServer } from '../e2e/harness.js';
import { homeId } from '../../src/docker/labels.js';
import { removeFromEngine } from '../support/engine-cleanup.js';
import { requires } from '../support/requires.js';

const docker = new Docker({ socketPath: (process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock').replace(/^unix:\/\//, '') });

const buildContainers = async (app: string) =>
  docker.listContainers({ all: true, filters: { label: [`slipway.app=${app}`, 'slipway.role=build'] } });
const isNext = (c: Docker.ContainerInfo) => c.Names.some((n) => n.endsWith('-build-next'));
/** The build containers of the app's jobs, without the one waiting for its next build. */
const jobBuilds = async (app: string) => (await buildContainers(app)).filter((c) => !isNext(c));
const nextBuild = async (app: string) => (await buildContainers(app)).filter(isNext);

/** A docker-driver server with its next build's container kept `keepWarm` seconds; what it left in the engine goes after. */
function dockerServer(keepWarm: number) {
  const env = useServer({ env: { SLIPWAY_DRIVER: 'docker', SLIPWAY_BUILD_KEEP_WARM: String(keepWarm) } });
  // By the server's home: one filter with several app labels would match only what carries them all (nothing).
  after(async () => env.server && removeFromEngine(docker, [`slipway.home=${homeId(env.server.home)}`]));
  return env;
}

/**
 * On the docker driver a build runs in a container from the stack image; its
 * start is most of what a small app's build costs, so it starts as the deploy
 * begins. What a user would check: the build does what it did, and no job's
 * build container is left, whether the deploy used it or failed before its build.
 */
describe('docker driver: the build container starts with the deploy (real dockerd)', function () {
  this.timeout(300_000);
  requires('docker', 'stack', 'guests');
  // No container for the next build here: each deploy starts its own.
  const env = dockerServer(0);

  it('is running while an earlier stage runs, and the build then uses it', async () => {
    const { pushing } = pushWithHook(env, 'dwarm', 'configure', 'echo "configure hook: slow"\nsleep 5');
    let seen: Docker.ContainerInfo[] = [];
    await eventually(async () => {
      seen = await buildContainers('dwarm');
      return seen.length === 1 && seen[0]!.State === 'running';
    }, 'a running build container during configure');
    const r = await pushing;
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.include('configure hook: slow');
    expect(r.stderr).to.match(/Building inside a container from the stack image/);
    expect(r.stderr).to.match(/Procfile app detected/);
    expect((await env.server.get('dwarm')).body.trim()).to.equal('dwarm v1');
    await eventually(async () => (await buildContainers('dwarm')).length === 0, 'the build container to be removed');
  });

  it('is removed, its output unseen, when the deploy fails before its build', async () => {
    const r = await pushWithHook(env, 'dcold', 'configure', 'echo "configure hook: refusing"\nexit 3').pushing;
    expect(r.stderr, r.stderr).to.include('configure hook: refusing');
    expect(r.stderr).to.match(/failed at configure/);
    expect(r.stderr).to.not.match(/app detected|Building inside a container/);
    expect(await buildContainers('dcold')).to.deep.equal([]);
  });
});

/**
 * After a deploy, the app's next build gets its container at once, so that
 * the next push finds it up. What a user would check: the next push uses it
 * (no other build container is made) and builds what was pushed; a job that
 * removed the build's dirs since (a config change) does not leave the next
 * build with an empty or stale dir; it goes when unused, and with the app.
 */
describe("docker driver: the next build's container waits after a deploy (real dockerd)", function () {
  this.timeout(300_000);
  requires('docker', 'stack', 'guests');
  const env = dockerServer(30);
  let repo = '';

  /** The engine's container events for the app's builds since `since` (seconds), by container name. */
  async function buildCreations(app: string, since: number): Promise<string[]> {
    const until = Math.ceil(Date.now() / 1000) + 1;
    const stream = (await docker.getEvents({
      since,
      until,
      filters: { type: ['container'], event: ['create'], label: [`slipway.app=${app}`, 'slipway.role=build'] },
    })) as unknown as NodeJS.ReadableStream;
    let text = '';
    for await (const chunk of stream) text += chunk.toString();
    return text
      .split('\n')
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as { Actor: { Attributes: { name: string } } }).Actor.Attributes.name);
  }

  it('is up after a deploy, and the next push builds in it: no other build container is made', async () => {
    const { server, key } = env;
    expect(server.cli(['apps:create', 'dnext']).code).to.equal(0);
    repo = appRepo('procfile-hello');
    setMessage(repo, 'dnext v1');
    const first = await push(repo, server.sshRemote('dnext'), { sshCommand: key.sshCommand });
    expect(first.code, first.stderr).to.equal(0);
    let waiting: Docker.ContainerInfo[] = [];
    await eventually(async () => {
      waiting = await nextBuild('dnext');
      return waiting.length === 1 && waiting[0]!.State === 'running';
    }, "the next build's container, running");
    expect(await jobBuilds('dnext')).to.deep.equal([]);

    const since = Math.floor(Date.now() / 1000);
    setMessage(repo, 'dnext v2');
    const second = await push(repo, server.sshRemote('dnext'), { sshCommand: key.sshCommand });
    expect(second.code, second.stderr).to.equal(0);
    expect(second.stderr).to.match(/Procfile app detected/);
    expect((await server.get('dnext')).body.trim()).to.equal('dnext v2');
    // It was used up: gone, and the only build container made since is the one for the build after.
    await eventually(async () => (await nextBuild('dnext')).every((c) => c.Id !== waiting[0]!.Id), 'the used container to go');
    const made = await buildCreations('dnext', since);
    expect(
      made.every((n) => n.endsWith('-dnext-build-next')),
      made.join(', '),
    ).to.equal(true);
  });

  it('a job that removed the build dirs since (a config change) leaves the next push a fresh container that sees the source', async () => {
    const { server, key } = env;
    await eventually(async () => (await nextBuild('dnext')).length === 1, "the next build's container");
    const set = server.cli(['config:set', 'dnext', 'GREETING=hello']);
    expect(set.code, set.stderr).to.equal(0);
    setMessage(repo, 'dnext v3');
    const pushed = await push(repo, server.sshRemote('dnext'), { sshCommand: key.sshCommand });
    expect(pushed.code, pushed.stderr).to.equal(0);
    expect(pushed.stderr).to.match(/Procfile app detected/);
    expect((await server.get('dnext')).body.trim()).to.equal('dnext v3');
  });

  it('the build ends once its runner says so, not at a mark the build forges: all its output is shown, and nothing it left running writes into the release', async () => {
    const { server, key } = env;
    expect(server.cli(['apps:create', 'dlate']).code).to.equal(0);
    const late = appRepo('procfile-hello');
    setMessage(late, 'dlate v1');
    addBuildpack(
      late,
      'late',
      [
        // A build cannot know the runner's mark: one it forges is its own output, and the build goes on.
        'echo "slipway-build-done-0123456789abcdef0123456789abcdef"',
        'i=1; while [ $i -le 3000 ]; do echo "line $i"; i=$((i+1)); done',
        // Outlives its buildpack, out of its process group and session.
        `setsid sh -c 'sleep 1.5; echo late > "$1/late.txt"' late "$1" </dev/null >/dev/null 2>&1 &`,
        'echo "compile over"',
      ].join('\n'),
    );
    commitAll(late, 'a buildpack that leaves a writer behind');
    const pushed = await push(late, server.sshRemote('dlate'), { sshCommand: key.sshCommand });
    expect(pushed.code, pushed.stderr).to.equal(0);
    const shown = pushed.stderr.split('\n').flatMap((l) => /remote: +line (\d+)/.exec(l)?.[1] ?? []);
    expect(shown.map(Number)).to.deep.equal(Array.from({ length: 3000 }, (_, i) => i + 1));
    expect(pushed.stderr).to.include('compile over');
    // The forged mark is shown as output; the runner's own never is.
    expect(pushed.stderr.match(/slipway-build-done-\w+/g)).to.deep.equal(['slipway-build-done-0123456789abcdef0123456789abcdef']);
    expect((await server.get('dlate')).body.trim()).to.equal('dlate v1');
    await sleep(2500);
    expect(fs.existsSync(path.join(server.home, 'apps', 'dlate', 'releases', 'v1', 'late.txt'))).to.equal(false);
    expect(server.cli(['apps:destroy', 'dlate', '--confirm', 'dlate']).code).to.equal(0);
  });

  it("apps:create starts the first build's container, and the first push builds in it", async () => {
    const { server, key } = env;
    expect(server.cli(['apps:create', 'dfirst']).code).to.equal(0);
    let waiting: Docker.ContainerInfo[] = [];
    await eventually(async () => {
      waiting = await nextBuild('dfirst');
      return waiting.length === 1 && waiting[0]!.State === 'running';
    }, "the first build's container, running");
    const since = Math.floor(Date.now() / 1000);
    const first = appRepo('procfile-hello');
    setMessage(first, 'dfirst v1');
    const pushed = await push(first, server.sshRemote('dfirst'), { sshCommand: key.sshCommand });
    expect(pushed.code, pushed.stderr).to.equal(0);
    expect(pushed.stderr).to.match(/Procfile app detected/);
    expect((await server.get('dfirst')).body.trim()).to.equal('dfirst v1');
    await eventually(async () => (await nextBuild('dfirst')).every((c) => c.Id !== waiting[0]!.Id), 'the used container to go');
    const made = await buildCreations('dfirst', since);
    expect(
      made.every((n) => n.endsWith('-dfirst-build-next')),
      made.join(', '),
    ).to.equal(true);
    expect(server.cli(['apps:destroy', 'dfirst', '--confirm', 'dfirst']).code).to.equal(0);
    expect(await buildContainers('dfirst')).to.deep.equal([]);
  });

  it('goes with its app', async () => {
    const { server } = env;
    await eventually(async () => (await nextBuild('dnext')).length === 1, "the next build's container");
    expect(server.cli(['apps:destroy', 'dnext', '--confirm', 'dnext']).code).to.equal(0);
    expect(await buildContainers('dnext')).to.deep.equal([]);
  });
});

describe("docker driver: the next build's container goes when no push comes (real dockerd)", function () {
  this.timeout(300_000);
  requires('docker', 'stack', 'guests');
  const env = dockerServer(3);

  it('is removed after --build-keep-warm seconds', async () => {
    const { server, key } = env;
    expect(server.cli(['apps:create', 'dexpire']).code).to.equal(0);
    const repo = appRepo('procfile-hello');
    setMessage(repo, 'dexpire v1');
    const pushed = await push(repo, server.sshRemote('dexpire'), { sshCommand: key.sshCommand });
    expect(pushed.code, pushed.stderr).to.equal(0);
    await eventually(async () => (await nextBuild('dexpire')).length === 1, "the next build's container");
    await eventually(async () => (await buildContainers('dexpire')).length === 0, 'the unused container to be removed', 20_000);
    expect((await server.get('dexpire')).body.trim()).to.equal('dexpire v1');
  });
});
