/**
 * Errors that reach a user carry a stable `code`, one line saying what is
 * wrong, and a `hint` saying what to do. They are turned into CLI, SSH, git
 * and HTTP answers in one place each (see cli/, git/, api/), never ad hoc.
 */
export class SlipwayError extends Error {
  readonly code: string;
  readonly hint?: string;
  /** HTTP-ish status used by the API and to pick an exit code. */
  readonly status: number;

  constructor(code: string, message: string, opts: { hint?: string; status?: number; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'SlipwayError';
    this.code = code;
    this.hint = opts.hint;
    this.status = opts.status ?? 400;
  }
}

export const notFound = (what: string, hint?: string) => new SlipwayError('not_found', `${what} not found`, { status: 404, hint });
export const denied = (message: string, hint?: string) => new SlipwayError('forbidden', message, { status: 403, hint });
export const invalid = (message: string, hint?: string) => new SlipwayError('invalid', message, { status: 422, hint });

/** A failure inside a deploy, with enough context to act on it. */
export class DeployError extends SlipwayError {
  readonly app: string;
  readonly release?: number;
  readonly stage?: string;
  readonly command?: string;
  readonly exitCode?: number;

  constructor(
    message: string,
    ctx: { app: string; release?: number; stage?: string; command?: string; exitCode?: number; hint?: string; cause?: unknown },
  ) {
    super('deploy_failed', message, { hint: ctx.hint, cause: ctx.cause, status: 500 });
    this.name = 'DeployError';
    this.app = ctx.app;
    this.release = ctx.release;
    this.stage = ctx.stage;
    this.command = ctx.command;
    this.exitCode = ctx.exitCode;
  }
}

/** One line a person can read: message, then the hint if there is one. */
export function describe(err: unknown): string {
  if (err instanceof SlipwayError) return err.hint ? `${err.message} (${err.hint})` : err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}
