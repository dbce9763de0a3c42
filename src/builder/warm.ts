import fs from 'node:fs';

/**
 * The deploy a warm build works for: where its output goes and what cancels
 * it. A build warmed as a push began has none until its deploy takes it.
 */
export class WarmHolder {
  private log?: (line: string) => void;
  readonly abort = new AbortController();
  /** Passed to the build as its log: lines before a deploy holds it go nowhere (a waiting runner prints none). */
  readonly line = (line: string): void => this.log?.(line);

  takenBy(w: { log: (line: string) => void; signal?: AbortSignal }): void {
    this.log = w.log;
    if (w.signal?.aborted) this.abort.abort();
    else w.signal?.addEventListener('abort', () => this.abort.abort(), { once: true });
  }
}

/**
 * Paths with the directories behind them now: a warm build fits a build only
 * with the same ones, since a mount follows the directory it was made of,
 * not its path (a deploy moves its build dir into its release; the next one
 * makes a new one).
 */
export function mountedDirs(paths: string[]): string[] {
  return paths.map((p) => {
    try {
      const st = fs.statSync(p);
      // The birth time too: an inode number can come back for a directory made again at the same path.
      return `${p}@${st.dev}:${st.ino}:${st.birthtimeMs}`;
    } catch {
      return `${p}@missing`;
    }
  });
}

/**
 * Warm builds started as pushes began, at most this many at once on a server
 * (with the ones still being ended): a member holding many pushes open, or
 * opening and closing them in a loop, gets no more guests than this.
 */
export const EARLY_MAX = 4;
/** An early one no deploy took by then is ended (a push held open, a transfer that long). */
export const EARLY_TTL_MS = 60_000;

/**
 * The builds a builder started as pushes began, by app: one per app, at most
 * EARLY_MAX counting those still ending, each ended after EARLY_TTL_MS or when
 * its push ends, unless a deploy took it first.
 */
export class EarlyWarms<W> {
  private readonly byApp = new Map<string, { warm: W; timer: NodeJS.Timeout }>();
  private ending = 0;

  constructor(private readonly end: (w: W) => Promise<void>) {}

  /** Starts one for `app` unless it has one or the server has its fill; returns what ends it. */
  start(app: string, make: () => W): () => void {
    if (this.byApp.has(app) || this.byApp.size + this.ending >= EARLY_MAX) return () => undefined;
    const warm = make();
    const entry = { warm, timer: setTimeout(() => stop(), EARLY_TTL_MS) };
    entry.timer.unref();
    const stop = () => {
      if (this.byApp.get(app) !== entry) return;
      this.byApp.delete(app);
      clearTimeout(entry.timer);
      this.ending++;
      void this.end(warm)
        .catch(() => undefined)
        .finally(() => this.ending--);
    };
    this.byApp.set(app, entry);
    return stop;
  }

  /** The app's one, now the deploy's (it is no longer ended by its push); undefined if none. */
  take(app: string): W | undefined {
    const entry = this.byApp.get(app);
    if (!entry) return undefined;
    this.byApp.delete(app);
    clearTimeout(entry.timer);
    return entry.warm;
  }

  /** Ends one a deploy took but cannot use, counted like the others until it is gone. */
  drop(warm: W): void {
    this.ending++;
    void this.end(warm)
      .catch(() => undefined)
      .finally(() => this.ending--);
  }
}
