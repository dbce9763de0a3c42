import { SlipwayError, invalid } from '../errors.js';
import type { SecretBox } from '../secrets/box.js';
import { isSealed } from '../store/sealed.js';
import type { App, Store } from '../store/index.js';

export const CONFIG_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_VALUE = 32 * 1024;

/** One change to an app's config, as the CLI and the API ask for it. */
export interface ConfigChange {
  /** Vars to set, in plain text. */
  set: Record<string, string>;
  /** Vars to remove. */
  unset: string[];
  /** Names among `set` to keep as secrets (encrypted at rest, masked in output). */
  secret: string[];
}

export function checkKey(key: string): string {
  if (!CONFIG_KEY.test(key) || key.length > 200)
    throw invalid(`"${key.slice(0, 60)}" is not a valid config var name`, 'names match ^[A-Za-z_][A-Za-z0-9_]*$, e.g. DATABASE_URL');
  return key;
}

export function checkValue(key: string, value: string): string {
  if (value.length > MAX_VALUE || value.includes('\0')) throw invalid(`the value of ${key} is longer than 32 KiB or contains a NUL byte`);
  return value;
}

/**
 * The change as the store and the queue take it: names checked, secret values
 * sealed, `undefined` for an unset. A var that is a secret already stays one
 * when set again, so a forgotten `--secret` never writes it in plain text.
 */
export function sealChanges(opts: { box: SecretBox; store: Store; app: App; change: ConfigChange }): Record<string, string | undefined> {
  const { box, store, app, change } = opts;
  const current = store.apps.config(app.id);
  const out: Record<string, string | undefined> = {};
  for (const k of change.secret)
    if (!(k in change.set)) throw invalid(`${k} is marked secret but not set`, 'give its value too, e.g. --secret API_KEY=s3cr3t');
  for (const [k, v] of Object.entries(change.set)) {
    checkKey(k);
    checkValue(k, v);
    const secret = change.secret.includes(k) || (current[k] !== undefined && isSealed(current[k]!));
    out[k] = secret ? box.seal(app.name, k, v) : v;
  }
  for (const k of change.unset) {
    checkKey(k);
    if (k in out) throw invalid(`${k} is both set and unset`);
    out[k] = undefined;
  }
  return out;
}

export const missingVars = (app: App, names: string[]) =>
  new SlipwayError('not_found', `${app.name} has no config var ${names.join(', ')}`, {
    status: 404,
    hint: `list them with \`slipway config ${app.name}\``,
  });
