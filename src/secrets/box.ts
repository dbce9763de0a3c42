import crypto from 'node:crypto';
import { SlipwayError } from '../errors.js';
import { SEALED_PREFIX, isSealed } from '../store/sealed.js';
import { loadKeyFile } from './key-file.js';
import { Masker } from './masker.js';

export { SEALED_PREFIX, isSealed };

const VERSION = 'v1';

/**
 * Seals and opens secret config values (AES-256-GCM). A sealed value is
 * `SEALED_PREFIX + "v1:<iv>:<tag>:<ciphertext>"` (base64 parts) and is what
 * config maps, the config_vars table and release snapshots hold; only the
 * places that build a process's environment, and an explicit reveal, open it.
 * The app name and the var name are the additional data, so a sealed value
 * copied to another app or another var does not open.
 *
 * It also remembers every value it opened, per app, so that job logs and app
 * logs can mask them (`masker(app)`).
 */
export class SecretBox {
  private readonly revealed = new Map<string, Masker>();

  constructor(private readonly key: Buffer) {}

  /** The box of a Slipway home; creates the key file on first use. */
  static forHome(home: string): SecretBox {
    return new SecretBox(loadKeyFile(home));
  }

  seal(app: string, name: string, plain: string): string {
    const iv = crypto.randomBytes(12);
    const cipher = crypto.createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(aad(app, name));
    const ct = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    const parts = [VERSION, iv.toString('base64'), cipher.getAuthTag().toString('base64'), ct.toString('base64')];
    this.masker(app).add(plain);
    return SEALED_PREFIX + parts.join(':');
  }

  open(app: string, name: string, sealed: string): string {
    const parts = sealed.slice(SEALED_PREFIX.length).split(':');
    if (!isSealed(sealed) || parts.length !== 4 || parts[0] !== VERSION)
      throw cannotOpen(app, name, 'it is not a sealed value of a version this server knows');
    try {
      const decipher = crypto.createDecipheriv('aes-256-gcm', this.key, Buffer.from(parts[1]!, 'base64'));
      decipher.setAAD(aad(app, name));
      decipher.setAuthTag(Buffer.from(parts[2]!, 'base64'));
      const plain = Buffer.concat([decipher.update(Buffer.from(parts[3]!, 'base64')), decipher.final()]).toString('utf8');
      this.masker(app).add(plain);
      return plain;
    } catch (err) {
      throw cannotOpen(app, name, 'it was sealed with another key, or for another app or var', err);
    }
  }

  /** A config map with every sealed value opened: what a process's environment gets. */
  reveal(app: string, config: Record<string, string>): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(config)) out[k] = isSealed(v) ? this.open(app, k, v) : v;
    return out;
  }

  /** Masks every secret value of `app` this box sealed or opened; it grows as more are seen. */
  masker(app: string): Masker {
    let m = this.revealed.get(app);
    if (!m) this.revealed.set(app, (m = new Masker()));
    return m;
  }
}

const aad = (app: string, name: string) => Buffer.from(`slipway-config\0${app}\0${name}`, 'utf8');

const cannotOpen = (app: string, name: string, why: string, cause?: unknown) =>
  new SlipwayError('secret_unreadable', `the secret ${name} of ${app} cannot be opened: ${why}`, {
    status: 500,
    cause,
    hint: `set it again with \`slipway config:set ${app} --secret ${name}=VALUE\``,
  });

/**
 * Opens a config map where a box may be missing (a context without one): a
 * map without sealed values needs none, one with them gets a clear error.
 */
export function revealConfig(box: SecretBox | undefined, app: string, config: Record<string, string>): Record<string, string> {
  if (box) return box.reveal(app, config);
  const sealed = Object.keys(config).filter((k) => isSealed(config[k]!));
  if (sealed.length)
    throw new SlipwayError('secret_key', `${app} has secret config vars (${sealed.join(', ')}) but no secret key was loaded`, {
      status: 500,
      hint: 'this is a bug: the server must load $SLIPWAY_HOME/secret.key',
    });
  return config;
}
