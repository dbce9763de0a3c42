/**
 * JSON Schemas shared by the routes. Fastify validates params, query strings
 * and bodies against them, and /api/v1/openapi.json is generated from the same
 * objects, so the document cannot drift from what the server enforces.
 * Response schemas are documentation only: replies are serialized with plain
 * JSON.stringify (see server.ts), so a schema can never drop or coerce a field.
 */

type Schema = Record<string, unknown>;

/** Every error answer: `{ error, message, hint }`. */
export const ERROR_SCHEMA: Schema = {
  type: 'object',
  required: ['error', 'message'],
  properties: {
    error: { type: 'string', description: 'a stable code, e.g. invalid_request, not_found, project_exists' },
    message: { type: 'string', description: 'one line saying what is wrong' },
    hint: { type: 'string', description: 'what to do about it' },
  },
};

const ERROR_TEXT: Record<number, string> = {
  400: 'the request does not match this schema (wrong type, unknown field, malformed JSON)',
  401: 'no valid API token',
  403: 'you may see this, but not do that (e.g. destroy an app as a collaborator)',
  404: 'no such thing, or you may not see it',
  409: 'a name is taken, or a confirmation is needed',
  413: 'the body is larger than the limit',
  405: 'this method is not allowed here (see Allow)',
  415: 'the body has the wrong Content-Type',
  422: 'a value is well-formed but not acceptable (an invalid name, version or checksum)',
  429: 'too many failed attempts: wait for Retry-After',
  503: 'a part the request needs is down (the Docker engine)',
};

/** Error responses for the given statuses, each with the shared shape. */
export function errors(...statuses: number[]): Record<number, Schema> {
  return Object.fromEntries(statuses.map((s) => [s, { description: ERROR_TEXT[s] ?? 'error', ...ERROR_SCHEMA }]));
}

export const str = (description: string, extra: Schema = {}): Schema => ({ type: 'string', description, ...extra });
const nullable = (type: string, description: string): Schema => ({ type: [type, 'null'], description });
const time = (description: string) => nullable('string', `${description} (ISO 8601)`);

/**
 * Path parameters are strings; their format is checked by the route (422 with
 * a hint), not here, so one rule per kind of name lives in one place.
 */
export function params(names: Record<string, string>): Schema {
  return {
    type: 'object',
    required: Object.keys(names),
    properties: Object.fromEntries(Object.entries(names).map(([k, d]) => [k, str(d)])),
  };
}

export const APP_PARAM = 'app name';
export const PROJECT_PARAM = 'project id, or name (names never consist of digits only)';
export const SERVICE_PARAM = 'service id, or name within the project';

export const APP_VIEW: Schema = {
  type: 'object',
  properties: {
    name: str('app name'),
    owner: str('owner user name'),
    env: str('dev, staging or prod'),
    mode: str('editable, cooking or final'),
    deploy_branch: str('branch a push deploys'),
    current_release: nullable('string', 'live release, vN'),
    created_at: time('created'),
    url: str('this app in the API'),
    releases_url: str('its releases in the API'),
  },
};

export const RELEASE_VIEW: Schema = {
  type: 'object',
  properties: {
    version: str('vN'),
    live: { type: 'boolean' },
    kind: str('push, build, artifact, promote, rollback, config'),
    status: str('pending, succeeded, failed or pruned'),
    description: nullable('string', 'what made it'),
    commit: nullable('string', 'git commit'),
    sha256: nullable('string', 'checksum of the release archive'),
    size: nullable('integer', 'archive size in bytes'),
    created_at: time('created'),
    finished_at: time('finished'),
    url: str('this release in the API'),
    archive_url: nullable('string', 'download of the release archive, when there is one'),
  },
};

export const JOB_VIEW: Schema = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    app: str('app name'),
    kind: str('what started it'),
    status: str('queued, running, succeeded or failed'),
    current_stage: nullable('string', 'pipeline stage running now'),
    error: nullable('string', 'why it failed'),
    release: nullable('string', 'the release it made, vN'),
    stages: { type: 'array', items: { type: 'object' } },
    url: str('this job in the API'),
    log_url: str('its log (text/plain; ?follow=1 streams until it ends)'),
  },
};

export const ACCEPTED_VIEW: Schema = {
  type: 'object',
  description: 'a deploy job was queued; poll `url` (Location) until it answers 303',
  properties: {
    id: { type: 'integer' },
    app: str('app name'),
    kind: str('job kind'),
    status: str('queued'),
    url: str('poll this'),
    log_url: str('follow this'),
  },
};

export const SERVICE_VIEW: Schema = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    name: str('service name, unique within the project'),
    project: str('project name'),
    project_id: { type: 'integer' },
    app: str('the app this service is'),
    app_url: str('the app in the API'),
    created_at: time('created'),
    updated_at: time('last changed'),
    url: str('this service in the API'),
  },
};

export const PROJECT_VIEW: Schema = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    name: str('project name, unique per owner'),
    owner: str('owner user name'),
    description: str('free text'),
    created_at: time('created'),
    updated_at: time('last changed'),
    services: { type: 'array', items: SERVICE_VIEW },
    url: str('this project in the API'),
    services_url: str('its services in the API'),
  },
};

export const list = (items: Schema): Schema => ({ type: 'array', items });
