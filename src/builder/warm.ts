import fs from 'node:fs';
import type { WarmUp } from './builder.js';

/**
 * The deploy a warm build works for: where its output goes and what cancels
 * it. A build warmed as a push began has none until its deploy takes it.
 */
export class WarmHolder {
  private log?: (line: string) => void;
  readonly abort = new AbortController();
  /** Passed to the build as its log: lines before a deploy holds it go nowhere (a waiting runner prints none). */
  readonly line = (line: string): void => this.log?.(line);

  takenBy(w: Pick<WarmUp, 'log' | 'signal'>): void {
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
      return `${p}@${st.dev}:${st.ino}`;
    } catch {
      return `${p}@missing`;
    }
  });
}
