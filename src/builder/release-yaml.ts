/** What a buildpack's `bin/release` may declare (buildpack API v2; `addons` is ignored). */
export interface ReleaseInfo {
  defaultProcessTypes: Record<string, string>;
  configVars: Record<string, string>;
}

/** `''`, `---`, `{}`, `--- {}`: a release that declares nothing. */
const EMPTY_DOCUMENT = /^(---)?\s*(\{\s*\})?$/;

/**
 * Parses `bin/release` output. Throws a plain Error with a readable reason;
 * the caller wraps it with the buildpack's name.
 */
export async function parseReleaseYaml(text: string): Promise<ReleaseInfo> {
  // Loaded when a buildpack declares something: a build in a guest starts a fresh node, and most builds never
  // need it (an empty document, as the Procfile buildpack's `--- {}`, is answered without it).
  const doc: unknown = EMPTY_DOCUMENT.test(text.trim()) ? {} : (await import('yaml')).parse(text);
  if (doc === null || doc === undefined) return { defaultProcessTypes: {}, configVars: {} };
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new Error('bin/release must print a YAML mapping');
  const record = doc as Record<string, unknown>;
  return {
    defaultProcessTypes: stringMap(record.default_process_types, 'default_process_types'),
    configVars: stringMap(record.config_vars, 'config_vars'),
  };
}

/** Scalars become strings (YAML reads `PORT: 5000` as a number); anything nested is an error. */
function stringMap(value: unknown, key: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new Error(`${key} must be a mapping`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (v === null || v === undefined) continue;
    if (typeof v === 'object') throw new Error(`${key}.${k} must be a string`);
    out[k] = String(v);
  }
  return out;
}
