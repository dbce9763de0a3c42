import type { Stage } from './stages.js';

/**
 * Every `code` an error may carry. API clients, the CLI and tests match on
 * these strings, so they never change once shipped; the union makes a typo
 * (or a new code nobody listed) a compile error instead of a silent new answer.
 */
export type ErrorCode =
  // Generic answers: a request that cannot be met as asked.
  | 'invalid'
  | 'not_found'
  | 'forbidden'
  | 'unauthorized'
  | 'confirm_required'
  | 'stdin_required'
  | 'no_file'
  | 'too_large'
  | 'local_only'
  | 'server_not_running'
  | 'aborted'
  // The HTTP API's own refusals (fastify validation, routing, parsing; see api/server.ts).
  | 'invalid_request'
  | 'invalid_parameter'
  | 'body_too_large'
  | 'uri_too_long'
  | 'unsupported_media_type'
  | 'bad_request'
  | 'method_not_allowed'
  | 'internal'
  | 'command_syntax'
  // Users, logins, keys, tokens, ownership.
  | 'login_failed'
  // The dashboard: a form sent without its session's CSRF token.
  | 'csrf_failed'
  | 'too_many_attempts'
  | 'user_exists'
  | 'user_owns_apps'
  | 'last_admin'
  | 'key_exists'
  | 'token_exists'
  | 'already_owner'
  | 'is_owner'
  // Apps, projects, services, domains.
  | 'app_exists'
  | 'app_not_found'
  | 'app_gone'
  | 'app_in_project'
  | 'ambiguous_project'
  | 'project_exists'
  | 'project_not_found'
  | 'service_exists'
  | 'service_not_found'
  | 'domain_in_use'
  | 'repo_missing'
  | 'config_not_applied'
  | 'single_host'
  // Deploys, releases and jobs.
  | 'deploy_failed'
  | 'build_failed'
  | 'job_failed'
  | 'final_never_builds'
  | 'not_promotable'
  | 'not_rollbackable'
  | 'no_release'
  | 'release_missing'
  | 'release_dir_missing'
  | 'no_archive'
  | 'archive_failed'
  | 'no_process_types'
  | 'health_check_failed'
  // Uploads and archives.
  | 'empty_upload'
  | 'upload_failed'
  | 'upload_interrupted'
  | 'upload_too_large'
  | 'unsupported_archive'
  | 'not_gzip'
  | 'bad_archive'
  | 'unsafe_archive'
  | 'unzip_failed'
  | 'sha256_required'
  | 'sha256_mismatch'
  // Fetches for users (artifact URLs, origins, buildpacks, webhooks).
  | 'egress_refused'
  // Git providers, push webhooks and preview apps (issue 17).
  | 'preview_name_taken'
  | 'preview_failed'
  | 'hook_signature'
  | 'hook_rate_limited'
  | 'hook_not_set_up'
  | 'fetch_failed'
  | 'checkout_failed'
  // Dockerfiles, images and the stack.
  | 'no_dockerfile'
  | 'dockerfile_not_file'
  | 'dockerfile_too_large'
  | 'dockerfile_unresolved'
  | 'base_image_forbidden'
  | 'image_build_failed'
  | 'image_in_use'
  | 'not_taggable'
  | 'stack_missing'
  | 'registry_missing'
  | 'registry_unavailable'
  | 'registry_push_failed'
  | 'swarm_missing'
  | 'stack_build_failed'
  | 'stack_import_failed'
  | 'debootstrap_missing'
  | 'engine_unreachable'
  | 'needs_docker'
  // Runtime: instances, one-offs, guests.
  | 'instance_exists'
  | 'instance_not_found'
  | 'in_formation'
  | 'not_runnable'
  | 'process_start_failed'
  | 'container_start_failed'
  | 'exec_failed'
  | 'one_off_failed'
  | 'pty_unavailable'
  | 'no_free_port'
  | 'guest_unavailable'
  | 'guest_owner'
  | 'guest_path'
  | 'guest_root'
  | 'uid_range_exhausted'
  // Router (nginx) and listening sockets.
  | 'router_failed'
  | 'router_down'
  | 'router_config_rejected'
  | 'router_reload_failed'
  // Certificates (tls/): a pair certs:add refuses, an ACME challenge the router cannot answer.
  | 'certificate_refused'
  | 'acme_failed'
  | 'no_custom_domains'
  | 'invalid_challenge'
  | 'invalid_route'
  | 'nginx_missing'
  | 'bind_failed'
  // Hosts and the Swarm (hosts/).
  | 'host_exists'
  | 'host_in_other_swarm'
  | 'host_architecture'
  | 'host_join_failed'
  | 'host_is_manager'
  | 'host_unreachable'
  | 'host_key_unknown'
  | 'swarm_unavailable'
  // Secrets.
  | 'secret_key'
  | 'secret_unreadable'
  // Log drains (drains/).
  | 'drain_exists'
  | 'too_many_drains';

/**
 * Errors that reach a user carry a stable `code`, one line saying what is
 * wrong, and a `hint` saying what to do. They are turned into CLI, SSH, git
 * and HTTP answers in one place each (see cli/, git/, api/), never ad hoc.
 */
export class SlipwayError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;
  /** HTTP-ish status used by the API and to pick an exit code. */
  readonly status: number;

  constructor(code: ErrorCode, message: string, opts: { hint?: string; status?: number; cause?: unknown } = {}) {
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
  /** The pipeline stage that failed; the runner names it when the thrower did not. */
  readonly stage?: Stage;
  readonly command?: string;
  readonly exitCode?: number;

  constructor(
    message: string,
    ctx: { app: string; release?: number; stage?: Stage; command?: string; exitCode?: number; hint?: string; cause?: unknown },
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
