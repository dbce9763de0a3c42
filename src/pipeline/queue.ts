import fsp from 'node:fs/promises';
import { SlipwayError, describe } from '../errors.js';
import type { App, DeployJobKind, Job, Mode, ReleaseKind, TaskJobKind } from '../store/index.js';
import type { DeployContext, DeploySource, ResolvedSource, Services } from './context.js';
import { followJobLog, JobLog } from './job-log.js';
import { runDeploy } from './runner.js';
import { sourceCommit } from './source.js';

export interface DeployRequest {
  app: App;
  userName: string;
  /** What started it: `push`, `rollback`, `deploy`, `promote`, `upload`. */
  kind: DeployJobKind;
  mode: Mode;
  releaseKind: ReleaseKind;
  source: DeploySource;
  /** Config for the new release; defaults to the app's current config. */
  config?: Record<string, string>;
  /** Changes applied to the app's config when the job starts (`undefined` unsets). */
  configChanges?: Record<string, string | undefined>;
}

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
 * Deploy jobs, one at a time per app, in arrival order. A job is never refused
 * because another is running: it waits, and its log says its place in line.
 */
export class DeployQueue {
  private readonly tails = new Map<number, Promise<unknown>>();
  private readonly live = new Map<number, LiveJob>();

  constructor(private readonly services: Services) {}

  enqueue(req: DeployRequest): Job {
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
    const ahead = store.jobs.aheadOf(req.app.id, job.id);
    if (ahead) log.line(`-----> Queued: ${ahead} deploy${ahead === 1 ? '' : 's'} of ${req.app.name} ahead of this one (job ${job.id}); waiting for ${ahead === 1 ? 'it' : 'them'} to finish`);
    const abort = new AbortController();
    const tail = this.tails.get(req.app.id) ?? Promise.resolve();
    const done = tail.then(() => this.run(job.id, req, log, abort.signal));
    this.tails.set(req.app.id, done.catch(() => undefined));
    this.live.set(job.id, { log, done, abort });
    done.finally(() => setTimeout(() => this.live.delete(job.id), 60_000).unref()).catch(() => undefined);
    return job;
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
      this.tails.set(req.app.id, done.catch(() => undefined));
    } else done = start();
    this.live.set(job.id, { log, done, abort });
    done.finally(() => setTimeout(() => this.live.delete(job.id), 60_000).unref()).catch(() => undefined);
    return job;
  }

  private async run(jobId: number, req: DeployRequest, log: JobLog, signal: AbortSignal): Promise<Job> {
    const { store, layout } = this.services;
    const app = store.apps.byId(req.app.id);
    if (!app) {
      store.jobs.finish(jobId, 'failed', 'the app was destroyed before this deploy started');
      log.close();
      return store.jobs.get(jobId)!;
    }
    store.jobs.start(jobId);
    let source: ResolvedSource;
    try {
      source = resolveSource(store, app, req.source);
    } catch (err) {
      log.error(describe(err));
      store.jobs.finish(jobId, 'failed', describe(err));
      log.close();
      return store.jobs.get(jobId)!;
    }
    const config = { ...(req.config ?? store.apps.config(app.id)) };
    for (const [k, v] of Object.entries(req.configChanges ?? {})) v === undefined ? delete config[k] : (config[k] = v);
    // Build output often echoes the environment: from here on the job log and
    // everyone following it see `********` for every secret of the app.
    if (this.services.secrets) {
      this.services.secrets.reveal(app.name, { ...store.apps.config(app.id), ...config });
      log.mask(this.services.secrets.masker(app.name));
    }
    const ctx: DeployContext = {
      services: this.services,
      app,
      job: store.jobs.get(jobId)!,
      mode: req.mode,
      source,
      releaseKind: req.releaseKind,
      log,
      signal,
      config,
      workDir: req.mode === 'editable' ? `${layout.app(app.name)}/work` : layout.build(app.name),
      buildpacks: [],
      processTypes: {},
      configVars: {},
      previous: { version: app.currentRelease, instances: [] },
      started: [],
      switched: false,
      startedAt: Date.now(),
    };
    let error: string | undefined;
    try {
      const outcome = await runDeploy(ctx);
      if (outcome.error) error = describe(outcome.error);
    } catch (err) {
      error = describe(err);
      log.error(`internal error: ${error}`);
    }
    // What its builds and hooks left running (`setsid` or not) ends with the job, as a build dyno does.
    this.services.orphans?.reapOwner('deploy', jobId);
    // Cleaned up before the job counts as finished: whoever polls it then finds no scratch left.
    if (ctx.mode !== 'editable') await fsp.rm(ctx.workDir, { recursive: true, force: true }).catch(() => undefined);
    await fsp.rm(layout.scratch(app.name), { recursive: true, force: true }).catch(() => undefined);
    // ENV_DIR holds secrets in plain text for the buildpacks; it is not needed once the build is over.
    await fsp.rm(layout.env(app.name), { recursive: true, force: true }).catch(() => undefined);
    // Uploaded or fetched files were linked into archives/ by bundle if the deploy got that far.
    const uploads = `${layout.app(app.name)}/uploads/`;
    for (const f of [ctx.source.kind === 'archive' ? ctx.source.archive : '', req.source.kind === 'tarball' ? req.source.file : '']) {
      if (f.startsWith(uploads)) await fsp.rm(f, { force: true }).catch(() => undefined);
    }
    if (ctx.release) store.releases.finish(ctx.release.id, error ? 'failed' : 'succeeded', error);
    store.jobs.finish(jobId, error ? 'failed' : 'succeeded', error);
    log.close();
    return store.jobs.get(jobId)!;
  }

  /**
   * Runs `fn` under the app's deploy lock, after every job queued before it:
   * scaling or restarting never races a deploy's switch.
   */
  exclusive<T>(appId: number, fn: () => Promise<T>): Promise<T> {
    const tail = this.tails.get(appId) ?? Promise.resolve();
    const run = tail.then(fn);
    this.tails.set(appId, run.catch(() => undefined));
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

/** Turns `live` into the archive of the release that is live when the job starts. */
function resolveSource(store: Services['store'], app: App, source: DeploySource): ResolvedSource {
  if (source.kind !== 'live') return source;
  const live = app.currentRelease == null ? undefined : store.releases.get(app.id, app.currentRelease);
  if (!live?.archivePath) {
    throw new SlipwayError('no_archive', `${app.name} has no live release archive to make a new release from`, { hint: 'push to deploy it first' });
  }
  return { kind: 'archive', archive: live.archivePath, sha256: live.sha256 ?? undefined, fromVersion: live.version, commit: live.commit };
}
