import { requires } from '../../support/requires.js';
import { expect } from 'chai';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { BuiltinRouter } from '../../../src/router/builtin.js';
import type { AcmeChallenge } from '../../../src/router/engine.js';
import { ChallengeBoard } from '../../../src/tls/acme/challenges.js';
import { issue } from '../../../src/tls/acme/issue.js';
import { AcmeError } from '../../../src/tls/acme/problem.js';
import { freePort } from '../../e2e/harness.js';
import { startPebble, type Pebble } from '../pebble.js';
import acme from 'acme-client';

/** The app-agnostic order against a real CA (pebble), its challenges answered by the built-in router. */
describe('ACME issue() against pebble', function () {
  requires('pebble');
  this.timeout(60_000);
  let router: BuiltinRouter;
  let pebble: Pebble;
  let accountKey: string;
  const published: AcmeChallenge[][] = [];
  let board: ChallengeBoard;

  before(async () => {
    router = new BuiltinRouter();
    await router.listen(0, '127.0.0.1');
    pebble = await startPebble({ httpPort: router.address()!.port, blocklist: ['blocked.test'] });
    accountKey = (await acme.crypto.createPrivateEcdsaKey()).toString();
    board = new ChallengeBoard(async (c) => {
      published.push(c);
      await router.setChallenges(c);
    });
  });

  after(async () => {
    await pebble?.stop();
    await router?.close();
  });

  const order = (domains: string[], o: { directory?: string; trust?: string | null; challenges?: ChallengeBoard } = {}) =>
    issue({
      directory: o.directory ?? pebble.directory,
      account: { key: accountKey, email: 'ops@example.com' },
      domains,
      challenges: o.challenges ?? board,
      trust: o.trust === null ? undefined : pebble.apiCa,
    });

  it('issues a certificate for every name, chained to the CA of the moment, and takes its challenges back', async () => {
    const lines: string[] = [];
    const issued = await issue({
      directory: pebble.directory,
      account: { key: accountKey },
      domains: ['www.shop.test', 'shop.test'],
      challenges: board,
      trust: pebble.apiCa,
      progress: (l) => lines.push(l),
    });
    const leaf = new X509Certificate(issued.chain);
    expect(leaf.subjectAltName).to.equal('DNS:www.shop.test, DNS:shop.test');
    expect(leaf.checkPrivateKey(createPrivateKey(issued.key))).to.equal(true);
    expect(issued.accountUrl).to.match(/^https:\/\/127\.0\.0\.1:\d+\//);
    expect(lines).to.include('Ordering a certificate for www.shop.test, shop.test');
    expect(lines).to.include('www.shop.test: validated');
    expect(board.size).to.equal(0);
    expect(published.at(-1)).to.deep.equal([]);
  });

  it('refuses a directory whose TLS certificate it cannot verify (no --extra-ca-bundle for it): it never skips the check', async () => {
    const err = await order(['www.shop.test'], { trust: null }).catch((e) => e);
    expect(err).to.be.instanceOf(AcmeError);
    expect(err.message).to.match(/^cannot reach the ACME directory https:\/\/127\.0\.0\.1:\d+\/dir: .*(certificate|self.signed)/i);
  });

  it("says in one line that the CA refused a name, with the CA's reason", async () => {
    const err = await order(['www.blocked.test']).catch((e) => e);
    expect(err).to.be.instanceOf(AcmeError);
    expect(err.message).to.not.contain('\n');
    expect(err.message).to.match(/^the CA refused the order: .*blocked/i);
    expect(err.problem.type).to.equal('urn:ietf:params:acme:error:rejectedIdentifier');
  });

  it('says in one line that the directory cannot be reached', async () => {
    const port = await freePort();
    const err = await order(['www.shop.test'], { directory: `https://127.0.0.1:${port}/dir` }).catch((e) => e);
    expect(err).to.be.instanceOf(AcmeError);
    expect(err.message).to.equal(`cannot reach the ACME directory https://127.0.0.1:${port}/dir: connect ECONNREFUSED 127.0.0.1:${port}`);
  });

  it('names the host the CA could not validate (nothing answers its challenge) and leaves no challenge behind', async () => {
    // A board whose answers go nowhere: the router answers the CA with 404.
    const nowhere = new ChallengeBoard(async () => undefined);
    const err = await order(['www.elsewhere.test'], { challenges: nowhere }).catch((e) => e);
    expect(err).to.be.instanceOf(AcmeError);
    expect(err.message).to.match(/^the CA could not validate www\.elsewhere\.test: .*404/);
    expect(nowhere.size).to.equal(0);
  });

  it("binds the account to the CA's external account (EAB) when the CA asks for one, and says so in one line when it is missing", async () => {
    const eab = { kid: 'slipway-test', hmacKey: Buffer.alloc(32, 7).toString('base64url') };
    const strict = await startPebble({ httpPort: router.address()!.port, eab });
    try {
      const key = (await acme.crypto.createPrivateEcdsaKey()).toString();
      const without = await issue({
        directory: strict.directory,
        account: { key },
        domains: ['eab.shop.test'],
        challenges: board,
        trust: strict.apiCa,
      }).catch((e) => e);
      expect(without).to.be.instanceOf(AcmeError);
      expect(without.message, without.message).to.match(/^the CA refused the account: .*externalAccountBinding/);
      const issued = await issue({
        directory: strict.directory,
        account: { key, eab },
        domains: ['eab.shop.test'],
        challenges: board,
        trust: strict.apiCa,
      });
      expect(new X509Certificate(issued.chain).subjectAltName).to.equal('DNS:eab.shop.test');
    } finally {
      await strict.stop();
    }
  });
});
