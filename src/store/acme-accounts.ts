import type { Db } from './db.js';
import { now } from './db.js';

/** An ACME account: one per directory URL and contact email. `sealedKey` is its private key as the secrets box sealed it. */
export interface AcmeAccount {
  id: number;
  directory: string;
  /** '' when the server has no `--acme-email`. */
  email: string;
  sealedKey: string;
  /** The account's URL at the CA (its `kid`), once registered. */
  url: string | null;
  createdAt: number;
}

const toAccount = (r: any): AcmeAccount => ({
  id: r.id,
  directory: r.directory,
  email: r.email,
  sealedKey: r.private_key,
  url: r.url,
  createdAt: r.created_at,
});

export class AcmeAccountStore {
  constructor(private readonly db: Db) {}

  get(directory: string, email: string): AcmeAccount | undefined {
    const r = this.db.prepare('SELECT * FROM acme_accounts WHERE directory = ? AND email = ?').get(directory, email);
    return r ? toAccount(r) : undefined;
  }

  /** Stores a new account key; when another caller stored one first, theirs is kept and returned. */
  add(directory: string, email: string, sealedKey: string): AcmeAccount {
    this.db
      .prepare('INSERT INTO acme_accounts (directory, email, private_key, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING')
      .run(directory, email, sealedKey, now());
    return this.get(directory, email)!;
  }

  setUrl(id: number, url: string): void {
    this.db.prepare('UPDATE acme_accounts SET url = ? WHERE id = ?').run(url, id);
  }
}
