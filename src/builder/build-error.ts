import { SlipwayError } from '../errors.js';

/** Which buildpack step failed; `fetch` is cloning or copying the buildpack itself. */
export type BuildStep = 'fetch' | 'detect' | 'compile' | 'release';

export interface BuildErrorContext {
  /** Short buildpack name, e.g. `nodejs` or the repository name of a git URL. */
  buildpack?: string;
  step?: BuildStep;
  /** The program that failed, e.g. `bin/compile`. */
  command?: string;
  exitCode?: number;
  hint?: string;
  cause?: unknown;
}

/**
 * A build that failed because of the app or its buildpacks. The message is one
 * line a person reads in `git push` output ("nodejs buildpack: compile failed
 * (exit 1)"); the details are fields so the pipeline can store them.
 */
export class BuildError extends SlipwayError {
  readonly buildpack?: string;
  readonly step?: BuildStep;
  readonly command?: string;
  readonly exitCode?: number;

  constructor(message: string, ctx: BuildErrorContext = {}) {
    super('build_failed', message, { hint: ctx.hint, cause: ctx.cause, status: 422 });
    this.name = 'BuildError';
    this.buildpack = ctx.buildpack;
    this.step = ctx.step;
    this.command = ctx.command;
    this.exitCode = ctx.exitCode;
  }
}
