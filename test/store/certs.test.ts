import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Store, type NewCert } from '../../src/store/index.js';

const cert = (fingerprint: string): NewCert => ({
  source: 'own',
  domains: ['www.example.test'],
  chain: '-----BEGIN CERTIFICATE-----\n…\n-----END CERTIFICATE-----\n',
  sealedKey: 'v1:iv:tag:ct',
  fingerprint,
  issuer: 'CN=Test CA',
  notBefore: 1,
  notAfter: 2,
});

describe('store/certs', () => {
  let store: Store;
  let appId: number;
  beforeEach(() => {
    store = Store.open(path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-certs-')), 'slipway.db'));
    const owner = store.users.add('owner', 'member');
    appId = store.apps.create({ name: 'alpha', ownerId: owner.id, env: 'staging', mode: 'cooking' }).id;
  });
  afterEach(() => store.close());

  it('keeps one certificate per app: a second put replaces the first and clears the last error', () => {
    store.certs.put(appId, cert('AA'));
    store.db.prepare("UPDATE certs SET last_error = 'boom', last_attempt_at = 5").run();
    store.certs.put(appId, cert('BB'));
    const c = store.certs.forApp(appId)!;
    expect(c).to.include({
      appName: 'alpha',
      source: 'own',
      fingerprint: 'BB',
      sealedKey: 'v1:iv:tag:ct',
      lastError: null,
      lastAttemptAt: null,
    });
    expect(c.domains).to.deep.equal(['www.example.test']);
    expect(store.certs.list().map((x) => x.fingerprint)).to.deep.equal(['BB']);
  });

  it('removes it, and destroying the app removes it too', () => {
    store.certs.put(appId, cert('AA'));
    expect(store.certs.remove(appId)).to.equal(true);
    expect(store.certs.remove(appId)).to.equal(false);
    store.certs.put(appId, cert('AA'));
    store.apps.destroy(appId);
    expect(store.certs.list()).to.deep.equal([]);
  });

  it('refuses an own certificate without its chain or key', () => {
    expect(() =>
      store.db.prepare("INSERT INTO certs (app_id, source, created_at, updated_at) VALUES (?, 'own', 0, 0)").run(appId),
    ).to.throw(/CHECK constraint/);
    store.db
      .prepare("INSERT INTO certs (app_id, source, last_error, created_at, updated_at) VALUES (?, 'acme', 'pending', 0, 0)")
      .run(appId);
    expect(store.certs.forApp(appId)).to.include({ source: 'acme', chain: null, lastError: 'pending' });
  });
});
