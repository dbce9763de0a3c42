import { expect } from 'chai';
import fs from 'node:fs';
import type { Services } from '../../src/pipeline/context.js';
import { planDeploy } from '../../src/pipeline/deploys.js';
import { DeployQueue } from '../../src/pipeline/queue.js';
import type { DeployJob } from '../../src/pipeline/runner.js';
import type { App, Job } from '../../src/store/index.js';
import { deployWorld, type DeployWorld } from '../support/deploy-world.js';

/** A promise the test settles when it wants. */
function deferred(): { promise: Promise<void>; resolve(): void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('pipeline/queue', () => {
  let w: DeployWorld;
  /** What the fake runner was doing, in order: `start <job>` and `end <job>`. */
  let events: string[];
  /** Each job's run waits for its gate. */
  let gates: Map<number, ReturnType<typeof deferred>>;
  let started: Map<number, ReturnType<typeof deferred>>;
  let queue: DeployQueue;

  const gate = (jobId: number) => gates.get(jobId) ?? gates.set(jobId, deferred()).get(jobId)!;
  const startOf = (jobId: number) => started.get(jobId) ?? started.set(jobId, deferred()).get(jobId)!;

  beforeEach(() => {
    w = deployWorld();
    events = [];
    gates = new Map();
    started = new Map();
    const run = async (services: Services, job: DeployJob): Promise<Job> => {
      events.push(`start ${job.jobId}`);
      startOf(job.jobId).resolve();
      await gate(job.jobId).promise;
      events.push(`end ${job.jobId}`);
      services.store.jobs.finish(job.jobId, 'succeeded');
      job.log.close();
      return services.store.jobs.get(job.jobId)!;
    };
    queue = new DeployQueue(w.services, run);
  });
  afterEach(() => w.close());

  const deploy = (app: App) =>
    queue.enqueue(planDeploy(w.services, { kind: 'build', app, userName: 'owner', file: '/nonexistent/source.tgz' }));

  it("runs one app's deploys one at a time, in arrival order, and says so in the waiting job's log", async () => {
    const app = w.newApp('serial');
    const first = deploy(app);
    const second = deploy(app);
    await startOf(first.id).promise;
    await new Promise((r) => setImmediate(r));
    expect(events).to.deep.equal([`start ${first.id}`]);
    gate(first.id).resolve();
    gate(second.id).resolve();
    await queue.follow(second.id, () => undefined);
    expect(events).to.deep.equal([`start ${first.id}`, `end ${first.id}`, `start ${second.id}`, `end ${second.id}`]);
    expect(fs.readFileSync(second.logPath, 'utf8')).to.include(`Queued: 1 deploy of serial ahead of this one (job ${second.id})`);
  });

  it("never makes one app wait for another app's deploy", async () => {
    const slow = deploy(w.newApp('slow'));
    const other = deploy(w.newApp('other'));
    gate(other.id).resolve();
    const done = await queue.follow(other.id, () => undefined);
    expect(done.status).to.equal('succeeded');
    expect(events).to.include(`end ${other.id}`);
    expect(events).to.not.include(`end ${slow.id}`);
    gate(slow.id).resolve();
    await queue.follow(slow.id, () => undefined);
  });

  it('a deploy that fails does not stop the next one of the same app', async () => {
    const app = w.newApp('failing');
    const runFailing = new DeployQueue(w.services, async (_s, job) => {
      events.push(`run ${job.jobId}`);
      job.log.close();
      if (events.length === 1) throw new Error('the runner blew up');
      w.store.jobs.finish(job.jobId, 'succeeded');
      return w.store.jobs.get(job.jobId)!;
    });
    const plan = planDeploy(w.services, { kind: 'build', app, userName: 'owner', file: '/nonexistent/source.tgz' });
    const first = runFailing.enqueue(plan);
    const second = runFailing.enqueue(plan);
    const done = await runFailing.follow(second.id, () => undefined);
    expect(events).to.deep.equal([`run ${first.id}`, `run ${second.id}`]);
    expect(done.status).to.equal('succeeded');
  });

  it('exclusive work on an app waits for its queued deploys and holds back the next', async () => {
    const app = w.newApp('locked');
    const first = deploy(app);
    const scaled = queue.exclusive(app.id, async () => void events.push('scale'));
    const second = deploy(app);
    gate(first.id).resolve();
    gate(second.id).resolve();
    await scaled;
    await queue.follow(second.id, () => undefined);
    expect(events).to.deep.equal([`start ${first.id}`, `end ${first.id}`, 'scale', `start ${second.id}`, `end ${second.id}`]);
  });
});
