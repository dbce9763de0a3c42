import { describe } from '../errors.js';
import type { App, Job, TaskJobKind } from '../store/index.js';
import type { DeployPlan, Services } from './context.js';
import { followJobLog, JobLog } from './job-log.js';
import { runDeployJob, type DeployJob } from './runner.js';
import { sourceCommit } from './source.js';

/**
 * Work that is not a deploy but is still a job (a one-off container, an image
 * build): same table, same log, same URL, same `jobs:wait`. `run` resolves
 * with the URL of what it made; a throw fails the job with that message.
 */
export interface TaskRequest {
  app: App;
  userName: string;
  /** What it is, as `jobs` lists it: `run`, `image`. */
  kind: TaskJobKind;
  /** Stored with the job for `jobs:info`; never secrets. */
  params?: Record<string, unknown>;
  /**
   * Waits for the app's deploys queued before it, as a deploy would (a
   * one-off must see the release the deploys ahead of it make). Builds that
   * touch no release run at once.
   */
  serial: boolean;
  run(task: { job: Job; log: JobLog; signal: AbortSignal }): Promise<string>;
}

interface LiveJob {
  log: JobLog;
  done: Promise<Job>;
  abort: AbortController;
}

/**
 * Deploy jobs, one at a time per app, in arrival order; apps never wait for
 * each other. A job is never refused because another is running: it waits,
 * and its log says its place in line. The queue only schedules and locks:
 * what a deploy does is runner.ts's.
 */
export class DeployQueue {
  private readonly tails = new Map<number, Promise<unknown>>();
  private readonly live = new Map<number, LiveJob>();

  /** `runJob` runs a deploy when its turn comes (runner.ts; unit tests pass their own). */
  constructor(
    readonly services: Services,
    private readonly runJob: (services: Services, job: DeployJob) => Promise<Job> = runDeployJob,
  ) {}

  /** Queues a deploy planned by pipeline/deploys.ts (startDeploy); runner.ts runs it when its turn comes. */
  enqueue(req: DeployPlan): Job {
    const { store, layout } = this.services;
    const job = store.jobs.create({
      appId: req.app.id,
      kind: req.kind,
      mode: req.mode,
      commit: sourceCommit(req.source),
      userName: req.userName,
      params: { releaseKind: req.releaseKind, source: req.source },
      logPath: (id) => layout.jobLog(req.app.name, id),
    });
    const log = new JobLog(job.logPath);
    const drains = this.services.drains;
    if (drains) log.tee = (line) => drains.deployLine(req.app.name, line);
    const ahead = store.jobs.aheadOf(req.app.id, job.id);
    if (ahead)
      log.line(
        `-----> Queued: ${ahead} deploy${ahead === 1 ? '' : 's'} of ${req.app.name} ahead of this one (job ${job.id}); waiting for ${ahead === 1 ? 'it' : 'them'} to finish`,
      );
    const abort = new AbortController();
    const tail = this.tails.get(req.app.id) ?? Promise.resolve();
    const done = tail.then(() => this.runJob(this.services, { jobId: job.id, plan: req, log, signal: abort.signal }));
    this.tails.set(
      req.app.id,
      done.catch(() => undefined),
    );
    this.live.set(job.id, { log, done, abort });
    done.then((j) => this.counted(j)).catch(() => undefined);
    done.finally(() => setTimeout(() => this.live.delete(job.id), 60_000).unref()).catch(() => undefined);
    return job;
  }

  /** A deploy that ended, for the metrics: its result, how long it took and its build stage. */
  private counted(job: Job): void {
    const metrics = this.services.metrics;
    if (!metrics || (job.status !== 'succeeded' && job.status !== 'failed')) return;
    const seconds = (from: number | null, to: number | null) => (from != null && to != null ? (to - from) / 1000 : undefined);
    const build = this.services.store.jobs.stages(job.id).find((s) => s.stage === 'build' && s.status === 'ok');
    metrics.deployEnded(
      job.appName,
      job.status,
      seconds(job.startedAt, job.finishedAt),
      build && seconds(build.startedAt, build.finishedAt),
    );
  }

  enqueueTask(req: TaskRequest): Job {
    const { store, layout } = this.services;
    const job = store.jobs.create({
      appId: req.app.id,
      kind: req.kind,
      mode: 'task',
      commit: null,
      userName: req.userName,
      params: req.params ?? {},
      logPath: (id) => layout.jobLog(req.app.name, id),
    });
    const log = new JobLog(job.logPath);
    const abort = new AbortController();
    const start = async (): Promise<Job> => {
      store.jobs.start(job.id);
      try {
        const url = await req.run({ job: store.jobs.get(job.id)!, log, signal: abort.signal });
        store.jobs.setResult(job.id, url);
        store.jobs.finish(job.id, 'succeeded');
      } catch (err) {
        log.error(describe(err));
        store.jobs.finish(job.id, 'failed', describe(err));
      }
      log.close();
      return store.jobs.get(job.id)!;
    };
    let done: Promise<Job>;
    if (req.serial) {
      const ahead = store.jobs.aheadOf(req.app.id, job.id);
      if (ahead) log.line(`-----> Queued: ${ahead} job${ahead === 1 ? '' : 's'} of ${req.app.name} ahead of this one (job ${job.id})`);
      done = (this.tails.get(req.app.id) ?? Promise.resolve()).then(start);
      this.tails.set(
        req.app.id,
        done.catch(() => undefined),
      );
    } else done = start();
    this.live.set(job.id, { log, done, abort });
    done.finally(() => setTimeout(() => this.live.delete(job.id), 60_000).unref()).catch(() => undefined);
    return job;
  }

  /**
   * Runs `fn` under the app's deploy lock, after every job queued before it:
   * scaling or restarting never races a deploy's switch.
   */
  exclusive<T>(appId: number, fn: () => Promise<T>): Promise<T> {
    const tail = this.tails.get(appId) ?? Promise.resolve();
    const run = tail.then(fn);
    this.tails.set(
      appId,
      run.catch(() => undefined),
    );
    return run;
  }

  /**
   * Streams a job's log from its first line until it ends, then resolves with
   * the finished job. Works for running, queued and long-finished jobs alike.
   * The log is read from its file at the follower's pace: `onData` may return
   * a promise (a full socket) and the next chunk waits for it. After `signal`
   * aborts (the client went away) nothing more is sent, and the job is still
   * waited for.
   */
  async follow(jobId: number, onData: (chunk: string) => void | Promise<void>, signal?: AbortSignal): Promise<Job> {
    const live = this.live.get(jobId);
    const job = this.services.store.jobs.get(jobId);
    if (!job) throw new Error(`job ${jobId} not found`);
    await followJobLog({ file: job.logPath, live: live?.log, onData, signal });
    if (live) return await live.done;
    return this.services.store.jobs.get(jobId) ?? job;
  }

  /** Aborts running deploys (daemon shutdown); they roll back and end as failed. */
  async shutdown(): Promise<void> {
    for (const j of this.live.values()) j.abort.abort(new Error('the Slipway server is shutting down'));
    await Promise.allSettled([...this.live.values()].map((j) => j.done));
  }
}
