/**
 * JSON schemas of the containers, images, hosts and queue resources: they
 * document the routes (OpenAPI) and let fastify check what comes in. Response
 * objects keep `additionalProperties`, so a field added to a view is never
 * silently dropped by the serializer.
 */
import { errors } from './schemas.js';

const str = { type: 'string' } as const;
const int = { type: 'integer' } as const;
const nullable = (type: string) => ({ type: [type, 'null'] });
export const errorResponses = errors(400, 401, 403, 404, 409, 413, 415, 422, 503);

export const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 300 } } } as const;

export const jobSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    id: int,
    app: str,
    kind: {
      ...str,
      description:
        '`run` (a one-off container), `image` (a Dockerfile build), or a deploy: `push`, `upload`, `build`, `promote`, `rollback` …',
    },
    status: { type: 'string', enum: ['queued', 'running', 'succeeded', 'failed'] },
    error: nullable('string'),
    result_url: { ...nullable('string'), description: 'what a succeeded job made; GET on the job answers 303 to it' },
    release_url: nullable('string'),
    url: str,
    log_url: str,
  },
} as const;

export const acceptedSchema = {
  type: 'object',
  additionalProperties: true,
  description: 'Accepted: poll the Location (/api/v1/queue/ID) until it answers 303 See Other to the new resource',
  properties: { id: int, app: str, kind: str, status: str, url: str, log_url: str },
} as const;

export const containerSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    id: { ...str, description: 'APP.vN.TYPE.INDEX; one-offs are APP.vN.run.N' },
    app: str,
    release: str,
    type: str,
    index: int,
    kind: { type: 'string', enum: ['formation', 'one-off'] },
    state: { type: 'string', enum: ['starting', 'up', 'crashed', 'stopping', 'stopped'] },
    port: nullable('integer'),
    host: { ...nullable('string'), description: 'the host (Swarm node) it runs on, swarm driver; null: this machine' },
    address: { ...nullable('string'), description: "where `port` answers: the host's address (swarm driver); null: 127.0.0.1" },
    driver: str,
    started_at: nullable('string'),
    restarts: int,
    command: { type: ['array', 'null'], items: str },
    exit_code: nullable('integer'),
    finished_at: nullable('string'),
    url: str,
  },
} as const;

export const imageSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    id: { ...str, description: 'APP:vN for a release archive, sha256:HEX for a built Docker image' },
    kind: { type: 'string', enum: ['archive', 'docker'] },
    app: str,
    release: nullable('string'),
    live: { type: 'boolean' },
    tags: { type: 'array', items: str },
    sha256: nullable('string'),
    size: nullable('integer'),
    created_at: nullable('string'),
    url: str,
  },
} as const;

export const hostSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    id: str,
    name: str,
    driver: str,
    drivers: { type: 'array', items: str },
    docker: {
      type: 'object',
      additionalProperties: true,
      properties: { reachable: { type: 'boolean' }, version: nullable('string'), error: nullable('string') },
    },
    cpus: nullable('number'),
    memory: { type: 'object', properties: { total: nullable('integer'), free: int } },
    load: { type: 'array', items: { type: 'number' } },
    instances: int,
    url: str,
  },
} as const;
