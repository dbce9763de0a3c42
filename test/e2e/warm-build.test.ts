import { expect } from 'chai';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { eventually, push, pushWithHook, setMessage, useServer } from './harness.js';
import { processesRunning } from '../support/proc.js';
import { requires } from '../support/requires.js';

/** The build agent as a warm build starts it in its guest: waiting for the build's first step on stdin. */
const WARM_RUNNER = ['/opt/slipway/build-agent'];

/**
 * A push to an app on the process driver starts its build's guest, with the
 * build agent in it, as the deploy begins, so that it is up by the build.
 * What a user would check: the build still does what it did, and a deploy
 * that never gets to its build leaves no guest behind — no process, no cgroup.
 */
describe('e2e: the build guest starts with the deploy', function () {
  requires('guests');
  this.timeout(120_000);
  const env = useServer();

  /** This server's guests live under the cgroup slipway-<home hash>; the other lane's servers have their own. */
  const parentCgroup = () => `slipway-${createHash('sha256').update(path.resolve(env.server.home)).digest('hex').slice(0, 10)}`;
  /** The warm runners of this server's build guests (another lane's deploys have theirs). */
  const runners = () =>
    processesRunning(WARM_RUNNER).filter((pid) => {
      try {
        return fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(`/${parentCgroup()}/`);
      } catch {
        return false;
      }
    });
  /** The build guests' cgroups this server still has. */
  const buildCgroups = () => {
    const parent = parentCgroup();
    const dir = ['/sys/fs/cgroup/pids', '/sys/fs/cgroup'].map((d) => path.join(d, parent)).find((d) => fs.existsSync(d));
    return dir ? fs.readdirSync(dir).filter((n) => n.includes('.build.')) : [];
  };

  it('is up and waiting while an earlier stage runs, and the build then uses it', async () => {
    const { pushing } = pushWithHook(env, 'warm', 'configure', 'echo "configure hook: slow"\nsleep 4');
    await eventually(
      () => runners().length === 1 && buildCgroups().length === 1,
      'the warm agent to wait for its request during configure, in a build guest of its own',
    );
    const r = await pushing;
    expect(r.stderr, r.stderr).to.include('configure hook: slow');
    expect(r.stderr).to.match(/Procfile app detected/);
    expect((await env.server.get('warm')).body.trim()).to.equal('warm v1');
    expect(runners()).to.deep.equal([]);
    expect(buildCgroups()).to.deep.equal([]);
  });

  it('ends with its daemon: after a kill -9 while it waits, no agent is left and the next push builds', async () => {
    const { repo, pushing } = pushWithHook(env, 'killed', 'configure', 'sleep 60');
    await eventually(() => runners().length === 1, 'the warm agent to wait for its request during configure');
    await env.server.kill9();
    expect((await pushing).code).to.not.equal(0);
    await eventually(() => runners().length === 0, 'the warm agent to end with its daemon');

    await env.server.boot();
    fs.rmSync(path.join(repo, '.slipway'), { recursive: true });
    setMessage(repo, 'killed v2');
    const again = await push(repo, env.server.sshRemote('killed'), { sshCommand: env.key.sshCommand });
    expect(again.code, again.stderr).to.equal(0);
    expect((await env.server.get('killed')).body.trim()).to.equal('killed v2');
    expect(runners()).to.deep.equal([]);
    expect(buildCgroups()).to.deep.equal([]);
  });

  it('is ended with nothing left when the deploy fails before its build', async () => {
    const r = await pushWithHook(env, 'cold', 'configure', 'echo "configure hook: refusing"\nexit 3').pushing;
    expect(r.stderr, r.stderr).to.include('configure hook: refusing');
    expect(r.stderr).to.match(/failed at configure/);
    expect(r.stderr).to.not.match(/app detected/);
    expect(runners()).to.deep.equal([]);
    expect(buildCgroups()).to.deep.equal([]);
  });
});
