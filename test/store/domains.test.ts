import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkHostname } from '../../src/commands/domains.js';
import { SlipwayError } from '../../src/errors.js';
import { Store } from '../../src/store/index.js';

function openStore(): Store {
  return Store.open(path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-domains-')), 'slipway.db'));
}

describe('store/domains', () => {
  let store: Store;
  let a: number;
  let b: number;
  beforeEach(() => {
    store = openStore();
    const owner = store.users.add('owner', 'member');
    a = store.apps.create({ name: 'alpha', ownerId: owner.id, env: 'staging', mode: 'cooking' }).id;
    b = store.apps.create({ name: 'beta', ownerId: owner.id, env: 'staging', mode: 'cooking' }).id;
  });
  afterEach(() => store.close());

  it("gives a host name to one app only, and lists an app's domains in the order added", () => {
    expect(store.domains.add(a, 'www.example.com')).to.equal(true);
    expect(store.domains.add(a, 'api.example.com')).to.equal(true);
    expect(store.domains.add(a, 'www.example.com')).to.equal(false);
    expect(store.domains.add(b, 'www.example.com')).to.equal(false);
    expect(store.domains.forApp(a).map((d) => d.hostname)).to.deep.equal(['www.example.com', 'api.example.com']);
    expect(store.domains.forApp(b)).to.deep.equal([]);
    expect(store.domains.byHostname('www.example.com')).to.include({ appId: a, appName: 'alpha' });
    expect(store.domains.byHostname('nope.example.com')).to.equal(undefined);
  });

  it('removes only from the app that has the name; destroying an app frees its names', () => {
    store.domains.add(a, 'www.example.com');
    expect(store.domains.remove(b, 'www.example.com')).to.equal(false);
    expect(store.domains.remove(a, 'www.example.com')).to.equal(true);
    expect(store.domains.remove(a, 'www.example.com')).to.equal(false);
    store.domains.add(a, 'shop.example.com');
    store.apps.destroy(a);
    expect(store.domains.byHostname('shop.example.com')).to.equal(undefined);
    expect(store.domains.add(b, 'shop.example.com')).to.equal(true);
  });

  it('finds the names at every level of a name: itself, above it and below it, not beside it', () => {
    for (const h of ['shop.test', 'x.shop.test', 'y.x.shop.test', 'eshop.test', 'shop.test.example', 'other.test']) store.domains.add(a, h);
    const around = (h: string) =>
      store.domains
        .around(h)
        .map((d) => d.hostname)
        .sort();
    expect(around('x.shop.test')).to.deep.equal(['shop.test', 'x.shop.test', 'y.x.shop.test']);
    expect(around('shop.test')).to.deep.equal(['shop.test', 'x.shop.test', 'y.x.shop.test']);
    expect(around('z.y.x.shop.test')).to.deep.equal(['shop.test', 'x.shop.test', 'y.x.shop.test']);
    expect(around('new.example')).to.deep.equal([]);
    expect(store.domains.around('other.test')[0]).to.include({ appName: 'alpha', ownerId: store.users.byName('owner')!.id });
  });
});

describe('commands/domains: checkHostname', () => {
  const refused = (host: string, pattern: RegExp) => {
    let err: unknown;
    try {
      checkHostname(host);
    } catch (e) {
      err = e;
    }
    expect(err, host).to.be.instanceOf(SlipwayError);
    expect((err as SlipwayError).message).to.match(pattern);
    expect((err as SlipwayError).hint).to.be.a('string');
  };

  it('accepts DNS names, lowercased and without a trailing dot', () => {
    expect(checkHostname('www.example.com')).to.equal('www.example.com');
    expect(checkHostname('WWW.Example.COM.')).to.equal('www.example.com');
    expect(checkHostname('a-b.c-d.example.test')).to.equal('a-b.c-d.example.test');
    expect(checkHostname('x.y.localhost')).to.equal('x.y.localhost');
    expect(checkHostname(`${'a'.repeat(63)}.example.com`)).to.have.length(75);
  });

  it('refuses what is not a host name', () => {
    for (const host of [
      'bad_host',
      '-x.com',
      'x-.com',
      'a..b',
      'x.com;rm',
      'x.com rm',
      'localhost',
      '',
      '.',
      'a.b/c',
      'ex\u00e4mple.com',
      `${'a'.repeat(64)}.com`,
      `${'abcdefghi.'.repeat(30)}com`,
    ]) {
      refused(host, /invalid hostname/);
    }
  });

  it('refuses wildcards and IP addresses', () => {
    refused('*.example.com', /wildcard/);
    refused('10.0.0.1', /IP address/);
  });
});
