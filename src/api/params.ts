import { SlipwayError, invalid, notFound } from '../errors.js';

/** `v3` or `3` → 3; anything else is refused before it reaches a query. */
export function parseVersion(v: unknown): number {
  const m =
    typeof v === 'string'
      ? /^v?(\d{1,9})$/.exec(v)
      : typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 1e9
        ? [String(v), String(v)]
        : null;
  if (!m) throw invalid(`${JSON.stringify(v)} is not a release version`, 'write it as v3 or 3');
  return Number(m[1]);
}

export function parseJobId(id: string): number {
  if (!/^\d{1,12}$/.test(id))
    throw invalid(`${JSON.stringify(id.slice(0, 40))} is not a job id`, 'job ids are numbers, as in /api/v1/jobs/12');
  return Number(id);
}

/** A lowercase hex sha256, or a 422 saying what a checksum looks like. */
export function parseSha256(v: unknown): string {
  if (typeof v !== 'string' || !/^[0-9a-fA-F]{64}$/.test(v)) {
    throw invalid(
      `${JSON.stringify(typeof v === 'string' ? v.slice(0, 80) : v)} is not a sha256 checksum`,
      'send the 64 hex digits `sha256sum FILE` prints',
    );
  }
  return v.toLowerCase();
}

/**
 * What any path parameter may hold: one segment of letters, digits and
 * `. _ : @ + -`, not starting with a dot or dash, never `..`. Fastify hands
 * routes the decoded value, so `%2f`, `%00` and `%2e%2e` arrive as `/`, NUL
 * and `..`; they stop here, before any lookup, engine call or file path.
 */
const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._:@+-]{0,299}$/;

/** An image as this API names one: `APP:vN` (an archive), `sha256:HEX` or a hex id prefix, or `slipway/APP[:TAG]`. */
export const IMAGE_ID =
  /^(?:[a-z][a-z0-9-]{0,62}:v\d{1,9}|(?:sha256:)?[0-9a-f]{4,64}|slipway\/[a-z][a-z0-9-]{0,62}(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?)$/;

/** The `id` of each resource: anything else names nothing (404), whatever the route would have done with it. */
const IDS: Record<string, RegExp> = {
  images: IMAGE_ID,
  containers: /^[a-z][a-z0-9-]{0,62}\.v\d{1,9}\.[A-Za-z0-9_-]{1,100}\.\d{1,9}$/,
  hosts: /^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$/,
};

/**
 * Checks every path parameter of a request against its grammar, for every
 * route (so a route added later is covered): a resource's own `id` grammar,
 * else the segment rule. Routes still apply their finer rules (app names,
 * versions) with their own answers.
 */
export function checkPathParams(routeUrl: string | undefined, params: unknown): void {
  if (!params || typeof params !== 'object') return;
  const resource = /^\/api\/v1\/([a-z]+)\/:id\b/.exec(routeUrl ?? '')?.[1];
  for (const [name, value] of Object.entries(params as Record<string, unknown>)) {
    if (typeof value !== 'string') continue;
    const shown = JSON.stringify(value.slice(0, 80));
    const own = name === 'id' && resource ? IDS[resource] : undefined;
    if (own) {
      if (!own.test(value)) throw notFound(`${resource!.replace(/s$/, '')} ${shown}`, `list them at /api/v1/${resource}`);
    } else if (!SEGMENT.test(value) || value.includes('..')) {
      throw new SlipwayError('invalid_parameter', `${shown} is not a valid ${name}`, {
        status: 400,
        hint: 'path parameters are names and ids: letters, digits and . _ : @ + - (no "/", no "..", no control characters)',
      });
    }
  }
}
