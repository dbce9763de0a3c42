import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { appRepo, eventually, git, push, pushWithHook, setMessage, sshArgs, useServer } from './harness.js';
import { processesRunning } from '../support/proc.js';
import { query } from './db.js';
import { EARLY_MAX } from '../../src/builder/warm.js';
import { requires } from '../support/requires.js';

/** The build runner as a warm build starts it in its guest: waiting for its request on stdin. */
const WARM_RUNNER = [process.execPath, '/opt/slipway/dist/builder/container-entry.js', '-'];

/**
 * A push to an app on the process driver starts its build's guest as the
 * push arrives, and its deploy takes that guest, so the runner's node boots
 * while git transfers the pack (the guest's main cost per deploy). What a user would check: the build
 * still does what it did, and a deploy that never gets to its build leaves
 * no guest behind — no process, no cgroup.
 */
describe('e2e: the build guest starts with the deploy', function () {
  requires('guests');
  this.timeout(120_000);
  const env = useServer();

  /** This server's guests live under the cgroup slipway-<home hash>; the other lane's servers have their own. */
  const parentCgroup = () => `slipway-${createHash('sha256').update(path.resolve(env.server.home)).digest('hex').slice(0, 10)}`;
  /** The warm runners of this server's build guests. */
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
      'the warm runner to wait for its request during configure, in a build guest of its own',
    );
    const r = await pushing;
    expect(r.stderr, r.stderr).to.include('configure hook: slow');
    expect(r.stderr).to.match(/Procfile app detected/);
    expect((await env.server.get('warm')).body.trim()).to.equal('warm v1');
    expect(runners()).to.deep.equal([]);
    expect(buildCgroups()).to.deep.equal([]);
  });

  it('starts as the push arrives: the deploy takes the guest its push started instead of starting one', async () => {
    const { pushing } = pushWithHook(env, 'early', 'configure', 'sleep 3');
    // The deploy is at configure: past its start, where it took the push's guest or started its own.
    await eventually(
      () =>
        query(
          env.server.home,
          "SELECT 1 FROM jobs j JOIN apps a ON a.id = j.app_id WHERE a.name = 'early' AND j.current_stage = 'configure'",
        ).length === 1,
      'the deploy to reach configure',
    );
    expect(runners()).to.have.length(1);
    // Named for the push that started it (`.build.pushN`), not for the job (`.build.<job id>`).
    expect(buildCgroups()).to.have.length(1);
    expect(buildCgroups()[0]).to.match(/^early\.build\.push\d+$/);
    const r = await pushing;
    expect(r.code, r.stderr).to.equal(0);
    expect((await env.server.get('early')).body.trim()).to.equal('early v1');
    expect(runners()).to.deep.equal([]);
    expect(buildCgroups()).to.deep.equal([]);
  });

  it('a push that deploys nothing leaves no guest; a push during a deploy of the same app builds in a fresh one', async () => {
    // The node buildpack writes into the build dir (.profile.d/nodejs.sh): a build in the wrong dir shows.
    expect(env.server.cli(['apps:create', 'twice']).code).to.equal(0);
    const repo = appRepo('node-hello');
    fs.mkdirSync(path.join(repo, '.slipway'));
    fs.writeFileSync(path.join(repo, '.slipway', 'configure'), '#!/bin/sh\nsleep 3\n', { mode: 0o755 });
    setMessage(repo, 'twice v1');
    const pushing = push(repo, env.server.sshRemote('twice'), { sshCommand: env.key.sshCommand });
    await eventually(() => runners().length === 1, 'the first deploy to reach configure');
    // The second push's guest mounts the build dir the first deploy is about to move into its release:
    // its deploy must not build in it.
    fs.rmSync(path.join(repo, '.slipway'), { recursive: true });
    setMessage(repo, 'twice v2');
    const second = await push(repo, env.server.sshRemote('twice'), { sshCommand: env.key.sshCommand });
    const first = await pushing;
    expect(first.code, first.stderr).to.equal(0);
    expect(second.code, second.stderr).to.equal(0);
    expect((await env.server.get('twice')).body.trim()).to.equal('twice v2');
    expect(fs.existsSync(path.join(env.server.home, 'apps', 'twice', 'releases', 'v2', '.profile.d', 'nodejs.sh'))).to.equal(true);
    await eventually(() => buildCgroups().length === 0, 'no build guest to be left');

    // A tag deploys nothing: its push's guest ends with the push.
    git(repo, ['tag', 'v2']);
    const tag = await push(repo, env.server.sshRemote('twice'), { sshCommand: env.key.sshCommand, ref: 'refs/tags/v2' });
    expect(tag.code, tag.stderr).to.equal(0);
    expect(tag.stderr).to.match(/Stored refs\/tags\/v2; only pushes to main deploy/);
    await eventually(() => buildCgroups().length === 0 && runners().length === 0, 'the push guest to end with the push');
  });

  it('a member holding many pushes open gets one build guest per app and at most EARLY_MAX in all, gone when they end', async () => {
    const apps = ['held-1', 'held-2', 'held-3', 'held-4', 'held-5', 'held-6'];
    for (const app of apps) expect(env.server.cli(['apps:create', app]).code).to.equal(0);
    const held = apps.flatMap((app) =>
      [1, 2].map(() =>
        spawn('ssh', [...sshArgs(env.key.key, env.server.ports.ssh), `git-receive-pack '${app}.git'`], {
          stdio: ['pipe', 'ignore', 'ignore'],
        }),
      ),
    );
    try {
      await eventually(
        () => buildCgroups().length === EARLY_MAX && runners().length === EARLY_MAX,
        `${EARLY_MAX} guests for the held pushes`,
      );
      await new Promise((r) => setTimeout(r, 1000));
      expect(buildCgroups()).to.have.length(EARLY_MAX);
      // One per app: no app's name twice.
      expect(new Set(buildCgroups().map((n) => n.split('.')[0])).size).to.equal(EARLY_MAX);
    } finally {
      for (const p of held) p.kill();
    }
    await eventually(() => buildCgroups().length === 0 && runners().length === 0, 'the guests to end with the pushes');
    env.server.assertAlive();
  });

  it('ends with its daemon: after a kill -9 while it waits, no runner is left and the next push builds', async () => {
    const { repo, pushing } = pushWithHook(env, 'killed', 'configure', 'sleep 60');
    await eventually(() => runners().length === 1, 'the warm runner to wait for its request during configure');
    await env.server.kill9();
    expect((await pushing).code).to.not.equal(0);
    await eventually(() => runners().length === 0, 'the warm runner to end with its daemon');

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
