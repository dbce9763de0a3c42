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

  it('refuses a file of many BEGIN lines without END with one line (no backtracking over them), and more than 16 blocks', () => {
    expect(refusal(() => splitBundle('-----BEGIN A-----\n'.repeat(18_000)))).to.equal(
      'malformed PEM: the A block has no -----END A----- line',
    );
    const leaf = makeLeaf(pki, ['www.example.test']);
    expect(refusal(() => splitBundle(leaf.certPem.repeat(17) + leaf.keyPem))).to.equal('malformed PEM: more than 16 PEM blocks were given');
    expect(splitBundle(`subject=CN = x\r\n${leaf.certPem.replace(/\n/g, '\r\n')}${leaf.keyPem}`).certificates).to.deep.equal([
      leaf.certPem,
    ]);
  });

  /** A key made with openssl: `genpkey` arguments. */
  const keyFile = (name: string, args: string[]) => {
    const file = path.join(pki.dir, name);
    expect(spawnSync('openssl', ['genpkey', ...args, '-out', file]).status).to.equal(0);
    return file;
  };

  it('refuses RSA keys under 2048 bits, saying what is allowed', () => {
    for (const bits of ['512', '1024']) {
      const leaf = makeLeaf(pki, ['weak.example.test'], {
        key: keyFile(`weak-${bits}.key`, ['-algorithm', 'RSA', '-pkeyopt', `rsa_keygen_bits:${bits}`]),
      });
      expect(refusal(() => check(leaf.fullchainPem + leaf.keyPem, ['weak.example.test']))).to.equal(
        `weak key: the private key is RSA ${bits} bits; allowed: RSA 2048-4096 bits, EC P-256 or P-384, Ed25519`,
      );
    }
  });

  it('refuses an RSA key over 4096 bits (each handshake would stall the router), in a self-signed certificate too', () => {
    // 5120 bits is over the limit as 8192 or 16384 are, and openssl makes it in seconds rather than a minute.
    const big = keyFile('big.key', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:5120']);
    const self = path.join(pki.dir, 'big-self.pem');
    const made = spawnSync('openssl', [
      'req',
      '-x509',
      '-key',
      big,
      '-out',
      self,
      '-days',
      '5',
      '-subj',
      '/CN=big.example.test',
      '-addext',
      'subjectAltName=DNS:big.example.test',
    ]);
    expect(made.status).to.equal(0);
    const text = fs.readFileSync(self, 'utf8') + fs.readFileSync(big, 'utf8');
    expect(refusal(() => check(text, ['big.example.test']))).to.equal(
      'oversized key: the private key is RSA 5120 bits; allowed: RSA 2048-4096 bits, EC P-256 or P-384, Ed25519',
    );
  });

  it('accepts an EC P-384 key', () => {
    const leaf = makeLeaf(pki, ['p384.example.test'], {
      key: keyFile('p384.key', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384']),
    });
    expect(check(leaf.fullchainPem + leaf.keyPem, ['p384.example.test']).names).to.deep.equal(['p384.example.test']);
  });

  it('refuses a file of more than 10 certificates', () => {
    const leaf = makeLeaf(pki, ['many.example.test']);
    const intermediate = fs.readFileSync(pki.intermediate, 'utf8');
    const text = leaf.fullchainPem + intermediate.repeat(9) + leaf.keyPem;
    expect(refusal(() => check(text, ['many.example.test']))).to.equal(
      'oversized chain: the file holds 11 certificates; at most 10 are accepted',
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
