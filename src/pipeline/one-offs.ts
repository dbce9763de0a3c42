import { PassThrough, Readable } from 'node:stream';
import { SlipwayError } from '../errors.js';
import type { Driver, ExecRequest, Instance } from '../runtime/driver.js';
import type { Orphans } from '../runtime/orphans.js';
import { LogWriter } from '../logs/log-writer.js';

/** A detached one-off (Heroku's `run:detached`): an instance of no formation, that ends when its command does. */
export interface OneOff extends Instance {
  /** The program and its arguments, run as given (never through a shell). */
  command: string[];
  /** Set once it ended: its exit status (128+N after signal N). */
  exitCode: number | null;
  finishedAt: number | null;
}

/** What a one-off runs in: the same target as `run` (image included, for Dockerfile apps), plus the app's log. */
export type OneOffStart = Pick<ExecRequest, 'app' | 'release' | 'releaseDir' | 'dataDir' | 'env' | 'argv' | 'image' | 'user' | 'limits'> & {
  /** The app's log: output is tagged `run.N` there, beside its instances' lines. */
  logFile: string;
};

export interface OneOffsOptions {
  driver: Driver;
  /** How long an ended one-off stays listed (with its exit code) unless deleted. Default 10 minutes. */
  keepFinishedMs?: number;
  /** Marks one-offs' processes: what one leaves running ends with it, and with a crashed daemon's next start. */
  orphans?: Orphans;
}

interface Entry {
  view: OneOff;
  abort: AbortController;
  /** Settles once it ended and its output is in the log. */
  ended: Promise<void>;
  forget?: NodeJS.Timeout;
}

/**
 * Detached one-offs of every app, started through the driver's `exec` (so
 * the process and docker drivers both run them, each its own way). They are
 * kept apart from formations on purpose: a deploy, `ps:scale` or a restart
 * never stops them, and they are never restarted — like Heroku's one-off dynos.
 */
export class OneOffs {
  private readonly entries = new Map<string, Entry>();
  private count = 0;
  private readonly keepFinishedMs: number;

  constructor(private readonly opts: OneOffsOptions) {
    this.keepFinishedMs = opts.keepFinishedMs ?? 10 * 60_000;
  }

  /** Resolves once the process runs; rejects when it could not be started at all. */
  async start(req: OneOffStart): Promise<OneOff> {
    const index = ++this.count;
    const dyno = `run.${index}`;
    const view: OneOff = {
      id: `${req.app}.v${req.release}.${dyno}`,
      app: req.app,
      release: req.release,
      type: 'run',
      index,
      state: 'starting',
      restarts: 0,
      startedAt: Date.now(),
      command: req.argv,
      exitCode: null,
      finishedAt: null,
    };
    const logs = new LogWriter({ file: req.logFile, name: dyno });
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    logs.attach(stdout);
    logs.attach(stderr);
    logs.note(`Starting process with command \`${req.argv.join(' ')}\` (detached)`);
    const abort = new AbortController();
    let markUp!: () => void;
    const up = new Promise<void>((resolve) => (markUp = resolve));
    const { logFile: _, ...target } = req;
    const run = this.opts.driver.exec({
      ...target,
      owner: this.opts.orphans?.owner('one-off', view.id),
      stdin: Readable.from([]),
      stdout,
      stderr,
      signal: abort.signal,
      dyno,
      onStart: () => {
        view.state = 'up';
        logs.note('State changed from starting to up');
        markUp();
      },
    });
    const ended = run
      .then(
        (code) => {
          view.exitCode = code;
          view.state = code === 0 || abort.signal.aborted ? 'stopped' : 'crashed';
          logs.note(`Process exited with status ${code}`);
        },
        (err: unknown) => {
          view.state = 'crashed';
          logs.note(`Failed to start: ${(err as Error).message}`);
        },
      )
      .then(async () => {
        this.opts.orphans?.reapOwner('one-off', view.id);
        view.finishedAt = Date.now();
        stdout.end();
        stderr.end();
        await logs.close();
        const entry = this.entries.get(view.id);
        if (entry) entry.forget = setTimeout(() => this.entries.delete(view.id), this.keepFinishedMs).unref();
      });
    this.entries.set(view.id, { view, abort, ended });
    // An exit before the start was reported (a driver that cannot tell) still counts as started.
    await Promise.race([up, run.then(() => undefined)]).catch((err: unknown) => {
      this.entries.delete(view.id);
      throw new SlipwayError('one_off_failed', `cannot start \`${req.argv.join(' ')}\` in ${req.app}: ${(err as Error).message}`, {
        status: (err as SlipwayError).status ?? 500,
        hint: (err as SlipwayError).hint,
        cause: err,
      });
    });
    return { ...view };
  }

  list(app?: string): OneOff[] {
    const all = [...this.entries.values()].map((e) => ({ ...e.view }));
    return app === undefined ? all : all.filter((o) => o.app === app);
  }

  get(id: string): OneOff | undefined {
    const e = this.entries.get(id);
    return e && { ...e.view };
  }

  /** Ends it (SIGTERM, then SIGKILL after the driver's grace) and forgets it; resolves once it is gone. */
  async stop(id: string): Promise<void> {
    const e = this.entries.get(id);
    if (!e) return;
    if (e.view.state === 'starting' || e.view.state === 'up') e.view.state = 'stopping';
    e.abort.abort();
    await e.ended;
    clearTimeout(e.forget);
    this.entries.delete(id);
  }

  async shutdown(): Promise<void> {
    await Promise.all([...this.entries.keys()].map((id) => this.stop(id)));
  }
}
