import { acmeLib } from './client-lib.js';
import type { SecretBox } from '../../secrets/box.js';
import { SEALED_PREFIX } from '../../store/sealed.js';
import type { Store } from '../../store/index.js';
import type { Eab } from './issue.js';

/** The server's ACME settings (`--acme-directory`, `--acme-email`, `--acme-eab-*`). */
export interface AcmeSettings {
  directory: string;
  email?: string;
  eab?: Eab;
}

/** The account as an order needs it: its key opened. */
export interface OpenAccount {
  id: number;
  key: string;
  email?: string;
  eab?: Eab;
}

/**
 * The one account of this directory and email, made on first use. Its key
 * is sealed like a secret config var, bound to the directory and email (the
 * additional data), so a row copied to another directory does not open.
 */
export async function accountFor(deps: { store: Store; secrets: SecretBox }, settings: AcmeSettings): Promise<OpenAccount> {
  const email = settings.email ?? '';
  const name = keyName(email);
  let row = deps.store.acmeAccounts.get(settings.directory, email);
  if (!row) {
    const key = (await acmeLib().crypto.createPrivateEcdsaKey('P-256')).toString();
    row = deps.store.acmeAccounts.add(
      settings.directory,
      email,
      deps.secrets.seal(settings.directory, name, key).slice(SEALED_PREFIX.length),
    );
  }
  const key = deps.secrets.open(settings.directory, name, SEALED_PREFIX + row.sealedKey);
  return { id: row.id, key, email: settings.email, eab: settings.eab };
}

/** Not a valid env var name, so no config value can be swapped in for it. */
const keyName = (email: string) => `acme:account-key:${email}`;
