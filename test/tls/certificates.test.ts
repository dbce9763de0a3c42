import { expect } from 'chai';
import crypto, { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AppCertificate } from '../../src/router/engine.js';
import { SecretBox } from '../../src/secrets/box.js';
import { Store, type App } from '../../src/store/index.js';
import { addOwnCertificate, certStatus, servableCertificates, type CertDeps } from '../../src/tls/certificates.js';
import { makeLeaf, makePki, type Pki } from './pki.js';

/** The certificate service over a real store and secrets box, with a router that records (or refuses) what it is given. */
describe('tls/certificates: storing, sealing and publishing', function () {
  this.timeout(60_000);
  let pki: Pki;
  let store: Store;
  let app: App;
  let published: AppCertificate[][];
  let refuse: boolean;
  let deps: CertDeps;
  before(() => (pki = makePki()));
  beforeEach(() => {
    store = Store.open(path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-certsvc-')), 'slipway.db'));
    const owner = store.users.add('owner', 'member');
    app = store.apps.create({ name: 'shop', ownerId: owner.id, env: 'staging', mode: 'cooking' });
    store.domains.add(app.id, 'www.shop.test');
    published = [];
    refuse = false;
    const router = {
      setCertificates: async (certs: AppCertificate[]) => {
        if (refuse) throw new Error('nginx: [emerg] cannot load certificate');
        published.push(certs);
      },
    };
    deps = { store, secrets: new SecretBox(crypto.randomBytes(32)), router, extraCaBundle: pki.root, domain: 'localhost' };
  });
  afterEach(() => store.close());

  it("stores the key sealed, and hands the router the opened key with the app's TLS settings", async () => {
    const leaf = makeLeaf(pki, ['www.shop.test']);
    await addOwnCertificate(deps, app, leaf.fullchainPem + leaf.keyPem);
    const row = store.db.prepare('SELECT private_key FROM certs').get() as { private_key: string };
    expect(row.private_key).to.match(/^v1:/).and.not.contain('PRIVATE KEY');
    expect(published).to.have.length(1);
    expect(published[0]).to.have.length(1);
    expect(published[0]![0]).to.include({ app: 'shop', chain: leaf.fullchainPem, redirect: false, hstsMaxAge: 0 });
    expect(crypto.createPrivateKey(published[0]![0]!.key).asymmetricKeyType).to.equal('ec');
    store.apps.setSetting(app.id, 'tls.redirect', 'true');
    store.apps.setSetting(app.id, 'tls.hsts', '600');
    expect(servableCertificates(deps)[0]).to.include({ redirect: true, hstsMaxAge: 600 });
  });

  it('puts back what was stored when the router refuses the new certificate', async () => {
    const first = makeLeaf(pki, ['www.shop.test']);
    await addOwnCertificate(deps, app, first.fullchainPem + first.keyPem);
    refuse = true;
    const second = makeLeaf(pki, ['www.shop.test']);
    const err = await addOwnCertificate(deps, app, second.fullchainPem + second.keyPem).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).to.contain('cannot load certificate');
    expect(store.certs.forApp(app.id)!.fingerprint).to.equal(new X509Certificate(first.certPem).fingerprint256);
    store.certs.remove(app.id);
    expect(
      await addOwnCertificate(deps, app, second.fullchainPem + second.keyPem).then(
        () => 'stored',
        () => 'refused',
      ),
    ).to.equal('refused');
    expect(store.certs.forApp(app.id)).to.equal(undefined);
  });

  it('reports the hosts served, the custom domains left on plain HTTP, and the expiry warning of an own certificate', async () => {
    const leaf = makeLeaf(pki, ['www.shop.test'], { days: 10 });
    await addOwnCertificate(deps, app, leaf.fullchainPem + leaf.keyPem);
    store.domains.add(app.id, 'api.shop.test');
    const s = certStatus(deps, app, store.certs.forApp(app.id)!);
    expect(s.served).to.deep.equal(['www.shop.test']);
    expect(s.uncovered).to.deep.equal(['api.shop.test']);
    expect(s.warnings[0]).to.match(/^the certificate of shop expires in 10 days \(\d{4}-\d\d-\d\d\); own certificates are not renewed/);
    expect(s.warnings[1]).to.equal('api.shop.test is not covered by the certificate of shop: it is served over plain HTTP only');
    // Thirty days from now, the same certificate has expired.
    expect(certStatus(deps, app, store.certs.forApp(app.id)!, Date.now() + 30 * 86_400_000).warnings[0]).to.match(
      /^the certificate of shop expired on /,
    );
  });
});
