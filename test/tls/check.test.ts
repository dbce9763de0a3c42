import { expect } from 'chai';
import { X509Certificate } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { SlipwayError } from '../../src/errors.js';
import { checkCertificate } from '../../src/tls/check.js';
import { covers } from '../../src/router/cert-names.js';
import { splitBundle } from '../../src/tls/pem.js';
import { makeLeaf, makePki, type Pki } from './pki.js';

/** The one line a refusal prints, as `slipway: …` would show it (message only). */
function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(SlipwayError);
    expect((err as Error).message).to.not.contain('\n');
    return (err as Error).message;
  }
  throw new Error('expected a refusal');
}

describe('tls/check: what certs:add accepts', function () {
  this.timeout(60_000);
  let pki: Pki;
  let root: X509Certificate;
  before(() => {
    pki = makePki();
    root = new X509Certificate(fs.readFileSync(pki.root));
  });
  const check = (text: string, domains: string[], trusted = [root]) => checkCertificate({ bundle: splitBundle(text), domains, trusted });

  it('accepts a leaf with its intermediate up to a trusted root, and serves leaf + intermediate', () => {
    const leaf = makeLeaf(pki, ['www.example.test', 'example.test']);
    const ok = check(leaf.fullchainPem + leaf.keyPem, ['www.example.test', 'example.test']);
    expect(ok.names).to.deep.equal(['www.example.test', 'example.test']);
    expect(ok.issuer).to.equal('CN=Slipway Test Intermediate, O=Slipway Tests');
    expect(ok.chain).to.equal(leaf.fullchainPem);
    expect(ok.notAfter).to.be.greaterThan(Date.now());
  });

  it('accepts a chain that ends at a self-signed root in the file (a private CA), leaving the root out of what is served', () => {
    const leaf = makeLeaf(pki, ['app.example.test']);
    const ok = check(leaf.keyPem + leaf.fullchainPem + fs.readFileSync(pki.root, 'utf8'), ['app.example.test'], []);
    expect(ok.chain).to.equal(leaf.fullchainPem);
  });

  it('refuses a key that belongs to another certificate', () => {
    const leaf = makeLeaf(pki, ['a.example.test']);
    const other = makeLeaf(pki, ['b.example.test']);
    expect(refusal(() => check(leaf.fullchainPem + other.keyPem, ['a.example.test']))).to.match(
      /^mismatched key: the private key does not belong to any of the 2 certificates \(CN=a\.example\.test\)$/,
    );
  });

  it('refuses an expired certificate, saying when it expired', () => {
    const leaf = makeLeaf(pki, ['old.example.test'], { expired: true });
    expect(refusal(() => check(leaf.fullchainPem + leaf.keyPem, ['old.example.test']))).to.equal(
      'expired: the certificate expired on 2020-02-01',
    );
  });

  it('refuses a chain without its intermediate, naming where it stops', () => {
    const leaf = makeLeaf(pki, ['www.example.test']);
    expect(refusal(() => check(leaf.certPem + leaf.keyPem, ['www.example.test']))).to.equal(
      'missing intermediate: the chain stops at CN=www.example.test: its issuer CN=Slipway Test Intermediate, O=Slipway Tests is neither in the file nor a trusted CA',
    );
    // Nor does a root in the file help when the intermediate between is missing.
    expect(refusal(() => check(leaf.certPem + fs.readFileSync(pki.root, 'utf8') + leaf.keyPem, ['www.example.test'], []))).to.match(
      /^missing intermediate: /,
    );
  });

  it('refuses a certificate that does not cover every domain, listing what it is for', () => {
    const leaf = makeLeaf(pki, ['www.example.test']);
    expect(refusal(() => check(leaf.fullchainPem + leaf.keyPem, ['www.example.test', 'shop.example.test']))).to.equal(
      'wrong name: the certificate (for www.example.test) does not cover shop.example.test',
    );
  });

  it('refuses malformed PEM, a missing key, an encrypted key and a broken certificate', () => {
    const leaf = makeLeaf(pki, ['www.example.test']);
    expect(refusal(() => check('hello', []))).to.match(/^malformed PEM: no PEM block/);
    expect(refusal(() => check(leaf.fullchainPem, []))).to.equal('malformed PEM: no PRIVATE KEY block was found');
    expect(refusal(() => check(leaf.keyPem, []))).to.equal('malformed PEM: no CERTIFICATE block was found');
    const broken = leaf.certPem.replace(/\n([A-Za-z0-9+/]{20})/, '\nAAAAAAAAAAAAAAAAAAAA');
    expect(refusal(() => check(broken + leaf.keyPem, ['www.example.test']))).to.match(
      /^malformed PEM: certificate 1 in the file cannot be read/,
    );
    const encrypted = '-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n';
    expect(refusal(() => check(leaf.certPem + encrypted, []))).to.equal('malformed PEM: the private key is encrypted');
  });

  it('refuses a pair TLS itself cannot use (an RSA key too small for OpenSSL)', () => {
    const weak = path.join(pki.dir, 'weak.key');
    expect(spawnSync('openssl', ['genrsa', '-out', weak, '512']).status).to.equal(0);
    const leaf = makeLeaf(pki, ['weak.example.test'], { key: weak });
    expect(refusal(() => check(leaf.fullchainPem + leaf.keyPem, ['weak.example.test']))).to.match(
      /^unusable: TLS cannot use this certificate and key: .*too small/,
    );
  });

  it('matches names as RFC 6125 says browsers do: a wildcard is one whole left-most label', () => {
    const wild = new X509Certificate(makeLeaf(pki, ['*.example.test', 'w*.other.test']).certPem);
    expect(covers(wild, 'a.example.test')).to.equal(true);
    expect(covers(wild, 'example.test')).to.equal(false);
    expect(covers(wild, 'a.b.example.test')).to.equal(false);
    expect(covers(wild, 'www.other.test')).to.equal(false);
    expect(covers(wild, 'evil-example.test')).to.equal(false);
  });
});
