import { expect } from 'chai';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { appRepo, eventually, push, pushWithHook, setMessage, ssh, sshKey, useServer, type TestServer } from './harness.js';
import { processesRunning } from '../support/proc.js';
import { requires } from '../support/requires.js';

/** The build agent as a warm build starts it in its guest: waiting for the build's first step on stdin. */
const WARM_RUNNER = ['/opt/slipway/build-agent'];

/** The build guests of one test server: their waiting agents and their cgroups. */
function guestsOf(env: { server: TestServer }) {
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
  return { runners, buildCgroups };
}

/**
 * A push to an app on the process driver starts its build's guest, with the
 * build agent in it, as the deploy begins, so that it is up by the build.
 * What a user would check: the build still does what it did, and a deploy
 * that never gets to its build leaves no guest behind — no process, no cgroup.
 */
describe('e2e: the build guest starts with the deploy', function () {
  requires('guests');
  this.timeout(120_000);
  // Without the next build's guest that a deploy leaves waiting (see below): each deploy starts its own.
  const env = useServer({ env: { SLIPWAY_BUILD_KEEP_WARM: '0' } });

  const { runners, buildCgroups } = guestsOf(env);

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

/**
 * After a deploy, the app's next build's guest starts and waits (for
 * `--build-keep-warm` seconds): the next push's build runs in it instead of
 * starting one. What a user would check: the builds do what they did, a guest
 * whose dirs a job in between replaced is not used, and nothing is left once
 * the app is destroyed or the wait is over.
 */
describe("e2e: the next build's guest waits after a deploy", function () {
  requires('guests');
  this.timeout(180_000);
  const env = useServer({ env: { SLIPWAY_BUILD_KEEP_WARM: '4' } });
  const { runners, buildCgroups } = guestsOf(env);
  const nextGuests = () => buildCgroups().filter((n) => /^nxt\.build\.next-\d+$/.test(n));

  /** Pushes `repo` again with a new configure hook; resolves with the push and every build guest seen while it ran. */
  async function pushAgain(repo: string, app: string, script: string, message: string) {
    fs.writeFileSync(path.join(repo, '.slipway', 'configure'), `#!/bin/sh\n${script}\n`, { mode: 0o755 });
    setMessage(repo, message);
    let done = false;
    const pushing = push(repo, env.server.sshRemote(app), { sshCommand: env.key.sshCommand }).finally(() => (done = true));
    const seen = new Set<string>();
    while (!done) {
      for (const n of buildCgroups()) seen.add(n);
      await sleep(20);
    }
    return { result: await pushing, seen: [...seen] };
  }

  it('is used by the next push, not used once a job in between replaced its dirs, and ends with the app', async () => {
    const first = pushWithHook(env, 'nxt', 'configure', 'echo "configure hook: one"');
    expect((await first.pushing).code).to.equal(0);
    await eventually(() => nextGuests().length === 1 && runners().length === 1, "the next build's guest to wait");
    const [waiting] = nextGuests();

    // The next push builds in the guest that waited: no build guest of its own job appears.
    const second = await pushAgain(first.repo, 'nxt', 'echo "configure hook: two"\nsleep 1', 'nxt v2');
    expect(second.result.code, second.result.stderr).to.equal(0);
    expect(second.result.stderr).to.match(/Procfile app detected/);
    expect(second.seen.filter((n) => /\.build\.\d+$/.test(n))).to.deep.equal([]);
    expect(second.seen).to.include(waiting);
    expect((await env.server.get('nxt')).body.trim()).to.equal('nxt v2');
    // It was used and ended; the deploy left a new one.
    await eventually(() => nextGuests().length === 1 && nextGuests()[0] !== waiting, 'a new next guest');

    // A config change is a job without a build, whose clean-up replaces the build's env dir:
    // the guest that mounts the old one is not used, the build starts its own.
    expect(env.server.cli(['config:set', 'nxt', 'COLOUR=blue']).code).to.equal(0);
    const third = await pushAgain(first.repo, 'nxt', 'echo "configure hook: three"\nsleep 1', 'nxt v3');
    expect(third.result.code, third.result.stderr).to.equal(0);
    expect(third.seen.filter((n) => /\.build\.\d+$/.test(n))).to.have.length(1);
    expect((await env.server.get('nxt')).body.trim()).to.equal('nxt v3');

    expect(env.server.cli(['apps:destroy', 'nxt', '--confirm', 'nxt']).code).to.equal(0);
    await eventually(() => runners().length === 0 && buildCgroups().length === 0, 'nothing left of its build guests');
  });

  it('dies with its daemon: after a kill -9 while it waits, no agent is left and the next push builds', async () => {
    const first = pushWithHook(env, 'nxtkill', 'configure', 'echo "configure hook"');
    expect((await first.pushing).code).to.equal(0);
    await eventually(() => runners().length === 1, "the next build's guest to wait");
    await env.server.kill9();
    await eventually(() => runners().length === 0, 'the waiting agent to end with its daemon');
    await env.server.boot();
    expect(buildCgroups()).to.deep.equal([]);
    const again = await pushAgain(first.repo, 'nxtkill', 'echo "configure hook: again"', 'nxtkill v2');
    expect(again.result.code, again.result.stderr).to.equal(0);
    expect((await env.server.get('nxtkill')).body.trim()).to.equal('nxtkill v2');
  });

  it('ends once unused for --build-keep-warm seconds', async () => {
    const r = await pushWithHook(env, 'nxtexp', 'configure', 'echo "configure hook"').pushing;
    expect(r.code, r.stderr).to.equal(0);
    await eventually(() => runners().length === 1, "the next build's guest to wait");
    await eventually(() => runners().length === 0 && buildCgroups().length === 0, 'it to end after 4 s', 20_000);
  });

  it("a new app's first push builds in the guest apps:create started", async () => {
    expect(env.server.cli(['apps:create', 'nxtnew']).code).to.equal(0);
    const mine = () => buildCgroups().filter((n) => n.startsWith('nxtnew.'));
    await eventually(() => mine().length === 1 && /^nxtnew\.build\.next-\d+$/.test(mine()[0]!), "the first build's guest to wait");
    const [waiting] = mine();
    const repo = appRepo('procfile-hello');
    fs.mkdirSync(path.join(repo, '.slipway'));
    const first = await pushAgain(repo, 'nxtnew', 'echo "configure hook: first"', 'nxtnew v1');
    expect(first.result.code, first.result.stderr).to.equal(0);
    expect(first.seen.filter((n) => /^nxtnew\.build\.\d+$/.test(n))).to.deep.equal([]);
    expect(first.seen).to.include(waiting);
    expect((await env.server.get('nxtnew')).body.trim()).to.equal('nxtnew v1');
    expect(env.server.cli(['apps:destroy', 'nxtnew', '--confirm', 'nxtnew']).code).to.equal(0);
    await eventually(() => mine().length === 0, 'nothing left of its build guests');
  });

  it("a member's burst of apps:create starts one first build's guest, not one per app", async () => {
    const { server } = env;
    expect(server.cli(['users:add', 'burst']).code).to.equal(0);
    const key = sshKey();
    expect(server.cli(['keys:add', '--user', 'burst', key.pub]).code).to.equal(0);
    const apps = ['burst1', 'burst2', 'burst3'];
    for (const app of apps) {
      const r = ssh(key.key, server.ports.ssh, ['apps:create', app]);
      expect(r.code, r.stderr).to.equal(0);
    }
    const of = (app: string) => buildCgroups().filter((n) => n.startsWith(`${app}.`));
    await eventually(() => of('burst1').length === 1, "the first app's build guest");
    // The others' would have started as soon as the first's: a second more, and none did.
    await sleep(1000);
    expect(of('burst2')).to.deep.equal([]);
    expect(of('burst3')).to.deep.equal([]);
    for (const app of apps) expect(server.cli(['apps:destroy', app, '--confirm', app]).code).to.equal(0);
  });
});
