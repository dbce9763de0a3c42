import { expect } from 'chai';
import Docker from 'dockerode';
import { eventually, pushWithHook, useServer } from '../e2e/harness.js';
import { removeFromEngine } from '../support/engine-cleanup.js';
import { requires } from '../support/requires.js';

const docker = new Docker({ socketPath: (process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock').replace(/^unix:\/\//, '') });

/**
 * On the docker driver a build runs in a container from the stack image; its
 * start is most of what a small app's build costs, so it starts as the deploy
 * begins. What a user would check: the build does what it did, and no build
 * container is left, whether the deploy used it or failed before its build.
 */
describe('docker driver: the build container starts with the deploy (real dockerd)', function () {
  this.timeout(300_000);
  requires('docker', 'stack', 'guests');
  const env = useServer({ env: { SLIPWAY_DRIVER: 'docker' } });
  const APPS = ['dwarm', 'dcold'];
  after(
    async () =>
      env.server &&
      removeFromEngine(
        docker,
        APPS.map((a) => `slipway.app=${a}`),
      ),
  );

  const buildContainers = async (app: string) =>
    docker.listContainers({ all: true, filters: { label: [`slipway.app=${app}`, 'slipway.role=build'] } });

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
