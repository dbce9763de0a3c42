import { expect } from 'chai';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { appRepo, commitAll, eventually, push, setMessage, useServer } from './harness.js';
import { processesRunning } from '../support/proc.js';
import { requires } from '../support/requires.js';

/** The build runner as a warm build starts it in its guest: waiting for its request on stdin. */
const WARM_RUNNER = [process.execPath, '/opt/slipway/dist/builder/container-entry.js', '-'];

/**
 * A push to an app on the process driver starts its build's guest as the
 * deploy begins, so the runner's node boots while the source is checked out
 * (the guest's main cost per deploy). What a user would check: the build
 * still does what it did, and a deploy that never gets to its build leaves
 * no guest behind — no process, no cgroup.
 */
describe('e2e: the build guest starts with the deploy', function () {
  requires('guests');
  this.timeout(120_000);
  const env = useServer();

  /** The build guests' cgroups this server still has (its guests live under slipway-<home hash>). */
  const buildCgroups = () => {
    const parent = `slipway-${createHash('sha256').update(path.resolve(env.server.home)).digest('hex').slice(0, 10)}`;
    const dir = ['/sys/fs/cgroup/pids', '/sys/fs/cgroup'].map((d) => path.join(d, parent)).find((d) => fs.existsSync(d));
    return dir ? fs.readdirSync(dir).filter((n) => n.includes('.build.')) : [];
  };

  it('is up and waiting while an earlier stage runs, and the build then uses it', async () => {
    expect(env.server.cli(['apps:create', 'warm']).code).to.equal(0);
    const repo = appRepo('procfile-hello');
    fs.mkdirSync(path.join(repo, '.slipway'));
    fs.writeFileSync(path.join(repo, '.slipway', 'configure'), '#!/bin/sh\necho "configure hook: slow"\nsleep 4\n', { mode: 0o755 });
    setMessage(repo, 'warm v1');
    const pushing = push(repo, env.server.sshRemote('warm'), { sshCommand: env.key.sshCommand });
    await eventually(
      () => processesRunning(WARM_RUNNER).length === 1 && buildCgroups().length === 1,
      'the warm runner to wait for its request during configure, in a build guest of its own',
    );
    const r = await pushing;
    expect(r.stderr, r.stderr).to.include('configure hook: slow');
    expect(r.stderr).to.match(/Procfile app detected/);
    expect((await env.server.get('warm')).body.trim()).to.equal('warm v1');
    expect(processesRunning(WARM_RUNNER)).to.deep.equal([]);
    expect(buildCgroups()).to.deep.equal([]);
  });

  it('is ended with nothing left when the deploy fails before its build', async () => {
    expect(env.server.cli(['apps:create', 'cold']).code).to.equal(0);
    const repo = appRepo('procfile-hello');
    fs.mkdirSync(path.join(repo, '.slipway'));
    fs.writeFileSync(path.join(repo, '.slipway', 'configure'), '#!/bin/sh\necho "configure hook: refusing"\nexit 3\n', {
      mode: 0o755,
    });
    commitAll(repo, 'a configure hook that fails');
    const r = await push(repo, env.server.sshRemote('cold'), { sshCommand: env.key.sshCommand });
    expect(r.stderr, r.stderr).to.include('configure hook: refusing');
    expect(r.stderr).to.match(/failed at configure/);
    expect(r.stderr).to.not.match(/app detected/);
    expect(processesRunning(WARM_RUNNER)).to.deep.equal([]);
    expect(buildCgroups()).to.deep.equal([]);
  });
});
