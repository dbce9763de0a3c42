import type { FastifyInstance, RouteOptions } from 'fastify';
import { ERROR_SCHEMA } from './schemas.js';

type Schema = Record<string, any>;

declare module 'fastify' {
  /** What a route's schema may carry for the OpenAPI document besides what Fastify validates. */
  interface FastifySchema {
    summary?: string;
    description?: string;
    tags?: string[];
    /** `[]` for the few public routes; every other route needs the bearer token. */
    security?: Array<Record<string, string[]>>;
    /** Media types of a raw (non-JSON) request body, e.g. an upload. */
    consumes?: string[];
    /** Media type of a non-JSON 200 answer, e.g. a log or an archive. */
    produces?: string[];
    hide?: boolean;
  }
}

/** A route as the OpenAPI document and the API index describe it. */
export interface DocumentedRoute {
  method: string;
  url: string;
  schema: Schema;
}

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

/**
 * Records every /api/v1 route as it is registered (routes added later by any
 * module are documented without a list to keep in step). Must be installed on
 * the root instance before the routes are registered.
 */
export function collectRoutes(app: FastifyInstance): DocumentedRoute[] {
  const routes: DocumentedRoute[] = [];
  app.addHook('onRoute', (route: RouteOptions) => {
    if (!route.url.startsWith('/api/v1') || (route.schema as Schema | undefined)?.hide) return;
    for (const method of [route.method].flat()) {
      if (METHODS.includes(method)) routes.push({ method, url: route.url, schema: (route.schema ?? {}) as Schema });
    }
  });
  return routes;
}

/** Methods registered for a concrete path, for a 405's Allow header. */
export function methodsFor(routes: DocumentedRoute[], path: string): string[] {
  const segments = path.split('/');
  const match = (url: string) => {
    const pattern = url.split('/');
    return pattern.length === segments.length && pattern.every((p, i) => (p.startsWith(':') ? segments[i] !== '' : p === segments[i]));
  };
  return [...new Set(routes.filter((r) => match(r.url)).map((r) => r.method))];
}

/** The OpenAPI 3.0 document for the collected routes. */
export function openApiDocument(routes: DocumentedRoute[], version: string): Schema {
  const paths: Schema = {};
  for (const r of routes) {
    const path = r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    paths[path] ??= {};
    paths[path][r.method.toLowerCase()] = operation(r);
  }
  return {
    openapi: '3.0.3',
    info: {
      title: 'Slipway API',
      version,
      description: 'Errors are JSON { error, message, hint }. 400: the request does not match the schema; 422: a value is not acceptable.',
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'an API token from `slipway tokens:create`; Basic auth with the token as password also works',
        },
      },
      schemas: { Error: ERROR_SCHEMA },
    },
    paths,
  };
}

function operation(r: DocumentedRoute): Schema {
  const s = r.schema;
  const op: Schema = { operationId: operationId(r), summary: s.summary, tags: s.tags };
  if (s.description) op.description = s.description;
  if (s.security) op.security = s.security;
  const parameters = [...parametersOf(s.params, 'path'), ...parametersOf(s.querystring, 'query')];
  // A route without a params schema still has its path parameters: document them as plain strings.
  for (const [, name] of r.url.matchAll(/:([A-Za-z0-9_]+)/g)) {
    if (!parameters.some((p) => p.in === 'path' && p.name === name))
      parameters.push({ name, in: 'path', required: true, schema: { type: 'string' } });
  }
  if (parameters.length) op.parameters = parameters;
  if (s.body) op.requestBody = { required: true, content: { 'application/json': { schema: toOpenApi(s.body) } } };
  else if (s.consumes)
    op.requestBody = {
      required: true,
      content: Object.fromEntries((s.consumes as string[]).map((t) => [t, { schema: { type: 'string', format: 'binary' } }])),
    };
  op.responses = {};
  for (const [status, schema] of Object.entries((s.response ?? {}) as Schema)) {
    const { description, ...rest } = schema as Schema;
    const isError = JSON.stringify(rest.properties) === JSON.stringify(ERROR_SCHEMA.properties);
    const body = isError ? { $ref: '#/components/schemas/Error' } : toOpenApi(rest);
    const type = (s.produces as string[] | undefined)?.[0] ?? 'application/json';
    op.responses[status] = { description: description ?? 'OK', content: { [isError ? 'application/json' : type]: { schema: body } } };
  }
  if (!Object.keys(op.responses).length) op.responses.default = { description: 'OK' };
  return op;
}

function parametersOf(schema: Schema | undefined, where: 'path' | 'query'): Schema[] {
  if (!schema?.properties) return [];
  const required: string[] = schema.required ?? [];
  return Object.entries(schema.properties as Schema).map(([name, p]) => {
    const { description, ...rest } = p as Schema;
    return { name, in: where, required: where === 'path' || required.includes(name), description, schema: toOpenApi(rest) };
  });
}

/**
 * JSON Schema → the OpenAPI 3.0 dialect: `type: [T, 'null']` becomes
 * `type: T, nullable: true`; everything else passes through.
 */
function toOpenApi(schema: Schema): Schema {
  if (Array.isArray(schema)) return schema.map(toOpenApi);
  if (!schema || typeof schema !== 'object') return schema;
  const out: Schema = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === 'type' && Array.isArray(v)) {
      const types = v.filter((t) => t !== 'null');
      if (types.length === 1) out.type = types[0];
      else out.oneOf = types.map((t) => ({ type: t }));
      if (types.length < v.length) out.nullable = true;
    } else if (k === 'properties') out.properties = Object.fromEntries(Object.entries(v as Schema).map(([n, p]) => [n, toOpenApi(p)]));
    else if (k === 'items' || k === 'additionalProperties') out[k] = typeof v === 'object' ? toOpenApi(v) : v;
    else out[k] = v;
  }
  return out;
}

const operationId = (r: DocumentedRoute) =>
  r.method.toLowerCase() +
  r.url
    .replace(/^\/api\/v1/, '')
    .split('/')
    .filter(Boolean)
    .map((p) => (p.startsWith(':') ? `By${cap(p.slice(1))}` : cap(p.replace(/\.json$/, '').replace(/[^A-Za-z0-9]/g, ''))))
    .join('');

const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
