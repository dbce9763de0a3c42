import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import type { DeployContext, StageFn } from '../../src/pipeline/context.js';
import { planDeploy, type DeployIntent } from '../../src/pipeline/deploys.js';
import { JobLog } from '../../src/pipeline/job-log.js';
import { STAGES, type Stage } from '../../src/pipeline/modes.js';
import { runDeployJob } from '../../src/pipeline/runner.js';
import { deployWorld, type DeployWorld } from '../support/deploy-world.js';

describe('pipeline/runner', () => {
  let w: DeployWorld;
  let ran: Stage[];
  let finishes: Array<[number, string]>;
  beforeEach(() => {
    w = deployWorld();
    ran = [];
    finishes = [];
    const finish = w.store.releases.finish.bind(w.store.releases);
    w.store.releases.finish = (id, status, error) => (finishes.push([id, status]), finish(id, status, error));
  });
  afterEach(() => w.close());

  /** Stages that only note they ran; init-sync also records the release and leaves a file in the work dir, as a checkout does. */
  function fakeStages(overrides: Partial<Record<Stage, StageFn>> = {}): Partial<Record<Stage, StageFn>> {
    const fns: Partial<Record<Stage, StageFn>> = {};
    for (const stage of STAGES) {
      fns[stage] = async (ctx: DeployContext) => {
        ran.push(stage);
        if (stage === 'init-sync') {
          ctx.release = w.store.releases.create({
            appId: ctx.app.id,
            kind: ctx.releaseKind,
            commit: null,
            author: 'owner',
            description: 'test',
            config: ctx.config,
            sourceVersion: null,
            jobId: ctx.job.id,
          });
          fs.mkdirSync(ctx.workDir, { recursive: true });
          fs.writeFileSync(path.join(ctx.workDir, 'checked-out'), 'x');
        }
        await overrides[stage]?.(ctx);
      };
    }
    return fns;
  }

  /** Leftovers of a job that set-up made or a build leaves: scratch, ENV_DIR and an uploaded tarball. */
  function leaveScratch(app: string): string {
    for (const dir of [w.layout.scratch(app), w.layout.env(app), w.layout.uploads(app)]) fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(w.layout.env(app), 'SECRET'), 'hunter2');
    const upload = path.join(w.layout.uploads(app), 'source.tgz');
    fs.writeFileSync(upload, 'tarball');
    return upload;
  }

  async function run(intent: DeployIntent, stageFns: Partial<Record<Stage, StageFn>>) {
    const plan = planDeploy(w.services, intent);
    const job = w.store.jobs.create({
      appId: intent.app.id,
      kind: plan.kind,
      mode: plan.mode,
      commit: null,
      userName: 'owner',
      params: {},
      logPath: (id) => w.layout.jobLog(intent.app.name, id),
    });
    fs.mkdirSync(path.dirname(job.logPath), { recursive: true });
    return runDeployJob(w.services, { jobId: job.id, plan, log: new JobLog(job.logPath), signal: new AbortController().signal, stageFns });
  }

  it("runs the mode's stages in order, cleans up and marks the release and the job succeeded once", async () => {
    const app = w.newApp('okapp');
    const upload = leaveScratch('okapp');
    const job = await run({ kind: 'build', app, userName: 'owner', file: upload }, fakeStages());
    expect(ran).to.deep.equal([
      'trigger',
      'archive',
      'init-sync',
      'configure',
      'build',
      'reconfigure',
      'activate',
      'upgrade',
      'bundle',
      'post-install',
      'notify',
    ]);
    expect(job.status).to.equal('succeeded');
    const release = w.store.releases.list(app.id)[0]!;
    expect(finishes).to.deep.equal([[release.id, 'succeeded']]);
    expect(release.status).to.equal('succeeded');
    for (const gone of [w.layout.build('okapp'), w.layout.scratch('okapp'), w.layout.env('okapp'), upload])
      expect(fs.existsSync(gone), gone).to.equal(false);
  });

  it('on a failed stage runs rollback and notify, still cleans up, and marks the release and the job failed once', async () => {
    const app = w.newApp('badapp');
    const upload = leaveScratch('badapp');
    const job = await run(
      { kind: 'build', app, userName: 'owner', file: upload },
      fakeStages({
        build: async () => {
          throw new Error('compile failed');
        },
      }),
    );
    expect(ran).to.deep.equal(['trigger', 'archive', 'init-sync', 'configure', 'build', 'rollback', 'notify']);
    expect(job.status).to.equal('failed');
    expect(job.error).to.include('compile failed');
    const release = w.store.releases.list(app.id)[0]!;
    expect(finishes).to.deep.equal([[release.id, 'failed']]);
    expect(release.status).to.equal('failed');
    for (const gone of [w.layout.build('badapp'), w.layout.scratch('badapp'), w.layout.env('badapp'), upload])
      expect(fs.existsSync(gone), gone).to.equal(false);
  });

  it('a deploy that cannot be set up fails its job without running a stage or making a release', async () => {
    const app = w.newApp('nolive');
    const job = await run({ kind: 'config', app, userName: 'owner', changes: { A: '1' } }, fakeStages());
    expect(ran).to.deep.equal([]);
    expect(job.status).to.equal('failed');
    expect(job.error).to.include('no live release archive');
    expect(w.store.releases.list(app.id)).to.deep.equal([]);
    expect(finishes).to.deep.equal([]);
  });

  it('an editable deploy keeps its work tree and skips what editable mode skips', async () => {
    const app = w.newApp('devapp', 'editable');
    const job = await run({ kind: 'redeploy', app, userName: 'owner' }, fakeStages());
    expect(job.status).to.equal('succeeded');
    expect(ran).to.deep.equal(['trigger', 'init-sync', 'configure', 'build', 'activate', 'upgrade', 'post-install', 'notify']);
    expect(fs.existsSync(path.join(w.layout.app('devapp'), 'work', 'checked-out'))).to.equal(true);
  });

  it('a job whose app was destroyed while it waited fails without running', async () => {
    const app = w.newApp('gone');
    const plan = planDeploy(w.services, { kind: 'build', app, userName: 'owner', file: '/nonexistent' });
    const job = w.store.jobs.create({
      appId: app.id,
      kind: plan.kind,
      mode: plan.mode,
      commit: null,
      userName: 'owner',
      params: {},
      logPath: () => path.join(w.home, 'gone.log'),
    });
    // The plan names an app the store no longer has.
    const done = await runDeployJob(w.services, {
      jobId: job.id,
      plan: { ...plan, app: { ...app, id: app.id + 1000 } },
      log: new JobLog(job.logPath),
      signal: new AbortController().signal,
      stageFns: fakeStages(),
    });
    expect(done.status).to.equal('failed');
    expect(done.error).to.include('destroyed');
    expect(ran).to.deep.equal([]);
  });
});
