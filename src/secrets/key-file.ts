import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { SlipwayError } from '../errors.js';

export const KEY_BYTES = 32;

/**
 * The server's secret key: 32 random bytes in `$SLIPWAY_HOME/secret.key`,
 * created 0600 on first use. A key file others can read is refused rather than
 * used, since anyone holding it can open every secret in the database.
 */
export function loadKeyFile(home: string): Buffer {
  const file = path.join(home, 'secret.key');
  if (!fs.existsSync(file)) {
    fs.mkdirSync(home, { recursive: true, mode: 0o700 });
    try {
      // wx: two processes starting at once must not each write their own key.
      fs.writeFileSync(file, crypto.randomBytes(KEY_BYTES), { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw keyError(file, `cannot be created: ${(err as Error).message}`, err);
    }
  }
  let st: fs.Stats;
  let key: Buffer;
  try {
    st = fs.statSync(file);
    key = fs.readFileSync(file);
  } catch (err) {
    throw keyError(file, `is unreadable: ${(err as Error).message}`, err);
  }
  if ((st.mode & 0o077) !== 0) {
    throw keyError(
      file,
      `has mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}, so other users may read it`,
      undefined,
      `chmod 600 ${file}`,
    );
  }
  if (key.length !== KEY_BYTES)
    throw keyError(
      file,
      `holds ${key.length} bytes, not ${KEY_BYTES}`,
      undefined,
      'restore it from a backup; without it the stored secrets cannot be opened',
    );
  return key;
}

const keyError = (file: string, what: string, cause?: unknown, hint?: string) =>
  new SlipwayError('secret_key', `the secret key file ${file} ${what}`, {
    status: 500,
    cause,
    hint: hint ?? `check ${file} (it must be a regular file, mode 0600, owned by the server's user)`,
  });
