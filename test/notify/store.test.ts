import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Store } from '../../src/store/index.js';

describe('store/webhooks', () => {
  let store: Store;
  let a: number;
  let b: number;
  beforeEach(() => {
    store = Store.open(path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-webhooks-')), 'slipway.db'));
    const owner = store.users.add('owner', 'member');
    a = store.apps.create({ name: 'alpha', ownerId: owner.id, env: 'staging', mode: 'cooking' }).id;
    b = store.apps.create({ name: 'beta', ownerId: owner.id, env: 'staging', mode: 'cooking' }).id;
  });
  afterEach(() => store.close());

  const delivery = (webhookId: number, n: number) =>
    store.webhooks.createDelivery({ uuid: `u-${webhookId}-${n}`, webhookId, jobId: null, event: 'deploy.failed', payload: '{}' });

  it('keeps secrets out of every listing', () => {
    const w = store.webhooks.add({ appId: a, url: 'http://x.example/h', events: ['deploy.failed'], secret: 'topsecret' });
    expect(JSON.stringify([w, store.webhooks.get(w.id), store.webhooks.forApp(a)])).to.not.include('topsecret');
    expect(store.webhooks.secret(w.id)).to.equal('topsecret');
    expect(store.webhooks.subscribed(a, 'deploy.failed').map((x) => x.id)).to.deep.equal([w.id]);
    expect(store.webhooks.subscribed(a, 'deploy.succeeded')).to.deep.equal([]);
  });

  it('removes a webhook only from its own app, with its deliveries; destroying the app removes both', () => {
    const w = store.webhooks.add({ appId: a, url: 'http://x.example/h', events: ['deploy.failed'], secret: 's' });
    delivery(w.id, 1);
    expect(store.webhooks.remove(b, w.id)).to.equal(false);
    expect(store.webhooks.remove(a, w.id)).to.equal(true);
    expect(store.webhooks.pending()).to.deep.equal([]);
    const w2 = store.webhooks.add({ appId: a, url: 'http://x.example/h', events: ['deploy.failed'], secret: 's' });
    delivery(w2.id, 1);
    store.apps.destroy(a);
    expect(store.webhooks.get(w2.id)).to.equal(undefined);
    expect(store.webhooks.pending()).to.deep.equal([]);
  });

  it('moves a delivery from pending to retrying to delivered or failed', () => {
    const w = store.webhooks.add({ appId: a, url: 'http://x.example/h', events: ['deploy.failed'], secret: 's' });
    const d = delivery(w.id, 1);
    expect(d).to.include({ state: 'pending', attempts: 0 });
    expect(
      store.webhooks.recordAttempt(d.id, { status: 500, error: 'HTTP 500', delivered: false, nextAttemptAt: Date.now() + 1000 }),
    ).to.include({ state: 'pending', attempts: 1, lastStatus: 500 });
    expect(store.webhooks.recordAttempt(d.id, { status: 200, error: null, delivered: true, nextAttemptAt: null })).to.include({
      state: 'delivered',
      attempts: 2,
      lastStatus: 200,
      nextAttemptAt: null,
    });
    const e = delivery(w.id, 2);
    expect(store.webhooks.recordAttempt(e.id, { status: null, error: 'ECONNREFUSED', delivered: false, nextAttemptAt: null })).to.include({
      state: 'failed',
      attempts: 1,
    });
    expect(store.webhooks.lastDelivery(w.id)!.id).to.equal(e.id);
  });

  it('keeps the newest 100 finished deliveries per webhook, and every pending one', () => {
    const w = store.webhooks.add({ appId: a, url: 'http://x.example/h', events: ['deploy.failed'], secret: 's' });
    const first = delivery(w.id, 0);
    for (let i = 1; i <= 120; i++) {
      const d = delivery(w.id, i);
      store.webhooks.recordAttempt(d.id, { status: 200, error: null, delivered: true, nextAttemptAt: null });
    }
    expect(store.webhooks.deliveries(a, w.id, 1000)).to.have.length(101);
    expect(store.webhooks.delivery(first.id)?.state).to.equal('pending');
  });
});
