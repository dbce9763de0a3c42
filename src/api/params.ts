import { invalid } from '../errors.js';

/** `v3` or `3` → 3; anything else is refused before it reaches a query. */
export function parseVersion(v: unknown): number {
  const m = typeof v === 'string' ? /^v?(\d{1,9})$/.exec(v) : typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 1e9 ? [String(v), String(v)] : null;
  if (!m) throw invalid(`${JSON.stringify(v)} is not a release version`, 'write it as v3 or 3');
  return Number(m[1]);
}

export function parseJobId(id: string): number {
  if (!/^\d{1,12}$/.test(id)) throw invalid(`${JSON.stringify(id.slice(0, 40))} is not a job id`, 'job ids are numbers, as in /api/v1/jobs/12');
  return Number(id);
}

/** A lowercase hex sha256, or a 422 saying what a checksum looks like. */
export function parseSha256(v: unknown): string {
  if (typeof v !== 'string' || !/^[0-9a-fA-F]{64}$/.test(v)) {
    throw invalid(`${JSON.stringify(typeof v === 'string' ? v.slice(0, 80) : v)} is not a sha256 checksum`, 'send the 64 hex digits `sha256sum FILE` prints');
  }
  return v.toLowerCase();
}
