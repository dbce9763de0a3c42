import { expect } from 'chai';
import { apiDomainHolders, checkHostClaim, isReservedAppName, serverHosts, type HostSettings } from '../../src/auth/hosts.js';
import { SlipwayError } from '../../src/errors.js';
import { Store, type App, type User } from '../../src/store/index.js';

const SETTINGS: HostSettings = { domain: 'example.test', publicHost: 'paas.example.test' };
const TAKEN = {
  message: 'is already in use by another app',
  hint: 'a host name belongs to one app; ask its owner or an admin to remove it first',
};

describe('auth/hosts: which host names an app may have', () => {
  let store: Store;
  let alice: User;
  let bob: User;
  let admin: User;
  let herapp: App;
  let herother: App;
  let bobshop: App;
  beforeEach(() => {
    store = Store.open(':memory:');
    alice = store.users.add('alice', 'member');
    bob = store.users.add('bob', 'member');
    admin = store.users.add('root', 'admin');
    const app = (name: string, owner: User) => store.apps.create({ name, ownerId: owner.id, env: 'staging', mode: 'cooking' });
    herapp = app('herapp', alice);
    herother = app('herother', alice);
    bobshop = app('bobshop', bob);
    store.domains.add(bobshop.id, 'shop.test');
    store.domains.add(bobshop.id, 'a.b.deep.test');
  });
  afterEach(() => store.close());

  /** The refusal as a user sees it: message and hint, with the host made generic. */
  const refusal = (user: User, app: App, host: string) => {
    try {
      checkHostClaim(store, SETTINGS, user, app, host);
    } catch (err) {
      expect(err).to.be.instanceOf(SlipwayError);
      const e = err as SlipwayError;
      return { code: e.code, status: e.status, message: e.message.replace(host, 'HOST'), hint: e.hint };
    }
    return undefined;
  };
  const asTaken = { code: 'domain_in_use', status: 409, message: `HOST ${TAKEN.message}`, hint: TAKEN.hint };

  it("refuses another app's default name and every name under it, existing app or not, like a taken name", () => {
    for (const host of [
      'bobshop.example.test',
      'x.bobshop.example.test',
      'a.b.bobshop.example.test',
      'nosuch.example.test',
      'x.nosuch.example.test',
      'example.test',
    ]) {
      expect(refusal(alice, herapp, host), host).to.deep.equal(asTaken);
    }
  });

  it("allows names under the app's own default name", () => {
    expect(refusal(alice, herapp, 'x.herapp.example.test')).to.equal(undefined);
    expect(refusal(alice, herapp, 'a.b.herapp.example.test')).to.equal(undefined);
  });

  it("refuses the server's public host and names under it, like a taken name", () => {
    expect(refusal(alice, herapp, 'paas.example.test')).to.deep.equal(asTaken);
    expect(refusal(alice, herapp, 'api.paas.example.test')).to.deep.equal(asTaken);
    const elsewhere: HostSettings = { domain: 'apps.test', publicHost: 'Paas.Corp.Test.' };
    expect(() => checkHostClaim(store, elsewhere, alice, herapp, 'paas.corp.test')).to.throw(TAKEN.message);
    expect(() => checkHostClaim(store, elsewhere, alice, herapp, 'git.paas.corp.test')).to.throw(TAKEN.message);
    expect(() => checkHostClaim(store, elsewhere, alice, herapp, 'corp.test')).to.not.throw();
  });

  it('refuses a name claimed at any level by another owner, like a taken name, in both directions', () => {
    for (const host of ['shop.test', 'x.shop.test', 'y.x.shop.test', 'b.deep.test', 'deep.test', 'z.a.b.deep.test']) {
      expect(refusal(alice, herapp, host), host).to.deep.equal(asTaken);
    }
    store.domains.add(herapp.id, 'x.alice.test');
    expect(refusal(bob, bobshop, 'alice.test')).to.deep.equal(asTaken);
    expect(refusal(bob, bobshop, 'y.x.alice.test')).to.deep.equal(asTaken);
    // Beside a claimed name is free.
    expect(refusal(alice, herapp, 'eshop.test')).to.equal(undefined);
    expect(refusal(alice, herapp, 'b.alice.test')).to.equal(undefined);
  });

  it("lets one owner's apps share the levels of a name, but not the name itself", () => {
    store.domains.add(herapp.id, 'alice.test');
    expect(refusal(alice, herother, 'www.alice.test')).to.equal(undefined);
    expect(refusal(alice, herapp, 'www.alice.test')).to.equal(undefined);
    expect(() => checkHostClaim(store, SETTINGS, alice, herother, 'alice.test')).to.throw('alice.test is already in use by app herapp');
  });

  it('names the app that has it only to someone who may use that app', () => {
    expect(() => checkHostClaim(store, SETTINGS, admin, herapp, 'x.shop.test')).to.throw(
      'x.shop.test is already in use by app bobshop (as shop.test)',
    );
    expect(() => checkHostClaim(store, SETTINGS, admin, herapp, 'shop.test')).to.throw('shop.test is already in use by app bobshop');
  });

  it('reserves the app name equal to the first label of the public host; an IP address reserves nothing', () => {
    expect(isReservedAppName('paas', SETTINGS)).to.equal(true);
    expect(isReservedAppName('paas2', SETTINGS)).to.equal(false);
    expect(isReservedAppName('example', SETTINGS)).to.equal(false);
    expect(serverHosts({ domain: 'localhost', publicHost: '127.0.0.1' })).to.deep.equal([]);
    expect(serverHosts({ domain: 'localhost', publicHost: '::1' })).to.deep.equal([]);
    expect(isReservedAppName('127', { domain: 'localhost', publicHost: '127.0.0.1' })).to.equal(false);
  });

  it('keeps the API domain (--api-domain) and the names under it from every app, saying why, and reserves its first label', () => {
    const api: HostSettings = { ...SETTINGS, apiDomain: 'api.other.test' };
    const claim = (host: string) => {
      try {
        checkHostClaim(store, api, admin, herapp, host);
        return 'allowed';
      } catch (err) {
        return (err as SlipwayError).message;
      }
    };
    expect(claim('api.other.test')).to.equal("api.other.test is the server's own API domain (--api-domain api.other.test)");
    expect(claim('x.api.other.test')).to.equal("x.api.other.test is under the server's own API domain (--api-domain api.other.test)");
    expect(claim('other.test')).to.equal('allowed');
    expect(serverHosts(api)).to.deep.equal(['paas.example.test', 'api.other.test']);
    expect(isReservedAppName('api', api)).to.equal(true);
  });

  it('names the apps that already hold the API domain, as a default name or a custom domain', () => {
    expect(apiDomainHolders(store, { ...SETTINGS, apiDomain: 'deep.test' })).to.deep.equal(['bobshop (as a.b.deep.test)']);
    expect(apiDomainHolders(store, { ...SETTINGS, apiDomain: 'herapp.example.test' })).to.deep.equal(['herapp (as herapp.example.test)']);
    expect(apiDomainHolders(store, { ...SETTINGS, apiDomain: 'free.test' })).to.deep.equal([]);
    expect(apiDomainHolders(store, SETTINGS)).to.deep.equal([]);
  });
});
