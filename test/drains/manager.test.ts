import { expect } from 'chai';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { addDrain, listDrains, removeDrain } from '../../src/drains/admin.js';
import { DrainManager } from '../../src/drains/manager.js';
import type { DrainEvent } from '../../src/drains/drain.js';
import { DEFAULT_EGRESS } from '../../src/egress/index.js';
import { LogWriter } from '../../src/logs/log-writer.js';
import { SecretBox } from '../../src/secrets/box.js';
import { Store } from '../../src/store/index.js';
import { Layout } from '../../src/store/layout.js';
import { eventually, tmpdir } from '../e2e/harness.js';
import { logplexReceiver, syslogReceiver } from './receivers.js';

describe('drains/manager: from the app log file to the drains, and the store', function () {
  this.timeout(30_000);
  const egress = { ...DEFAULT_EGRESS, allow: ['127.0.0.1/32'] };
  let store: Store;
  let layout: Layout;
  let manager: DrainManager;
  let deps: Parameters<typeof addDrain>[0];
  const events: DrainEvent[] = [];

  beforeEach(() => {
    store = Store.open(':memory:');
    layout = new Layout(tmpdir('drains'));
    const secrets = new SecretBox(crypto.randomBytes(32));
    manager = new DrainManager({ store, layout, secrets, egress, log: () => undefined, tuning: { batchWaitMs: 10 } });
    manager.start();
    manager.onEvent((e) => events.push(e));
    deps = { store, secrets, egress, manager };
  });
  afterEach(async () => {
    await manager.stop();
    store.close();
  });
  const app = (name: string) =>
    store.apps.create({ name, ownerId: store.users.add(`${name}-owner`, 'member').id, env: 'staging', mode: 'cooking' });
  const writer = (name: string) => new LogWriter({ file: path.join(layout.logs(name), 'app.log'), name: 'web.1' });

  it("tees an app's log lines (output and Slipway's notes) to its drains only, and deploy lines as PROCID deploy", async () => {
    const rx = await syslogReceiver();
    try {
      const shop = app('shop');
      app('other');
      addDrain(deps, shop, rx.url, false);
      const w = writer('shop');
      const o = writer('other');
      const out = new PassThrough();
      w.attach(out);
      out.write('héllo ✓\nsecond line\n');
      w.note('started');
      o.note('not for shop');
      manager.deployLine('shop', '-----> Building');
      await eventually(() => rx.messages.length === 4, 'four lines');
      expect(rx.messages.map((m) => m.replace(/^<190>1 \S+ \S+ /, ''))).to.have.members([
        'shop web.1 - - héllo ✓',
        'shop web.1 - - second line',
        'shop web.1 slipway - started',
        'shop deploy - - -----> Building',
      ]);
      await eventually(() => events.some((e) => e.kind === 'delivered'), 'a delivery event');
      expect(listDrains(deps, shop)[0]!.stats!.delivered).to.equal(4);
      await Promise.all([w.close(), o.close()]);
    } finally {
      await rx.close();
    }
  });

  it('removing the drain or destroying the app stops it: its connection closes and its lines go nowhere', async () => {
    const rx = await syslogReceiver();
    try {
      const shop = app('shop');
      const added = addDrain(deps, shop, rx.url, false);
      manager.deployLine('shop', 'one');
      await eventually(() => rx.open === 1 && rx.messages.length === 1, 'connected');
      removeDrain(deps, shop, String(added.id));
      await eventually(() => rx.open === 0, 'disconnected on removal');
      expect(manager.hasDrains('shop')).to.equal(false);
      addDrain(deps, shop, rx.url, false);
      manager.deployLine('shop', 'two');
      await eventually(() => rx.open === 1 && rx.messages.length === 2, 'connected again');
      store.apps.destroy(shop.id);
      await eventually(() => rx.open === 0, 'disconnected when the app is destroyed');
      expect(store.drains.all()).to.deep.equal([]);
    } finally {
      await rx.close();
    }
  });

  it('a token in the URL is sealed in the store and masked in listings, yet sent to the receiver', async () => {
    const rx = await logplexReceiver();
    try {
      const shop = app('shop');
      const added = addDrain(deps, shop, rx.url.replace('http://', 'http://u:s3cret@') + '?key=k3y', false);
      expect(added.url).to.equal(rx.url.replace('http://', 'http://***:***@') + '?key=***');
      expect(JSON.stringify(store.drains.all())).to.not.match(/s3cret|k3y/);
      manager.deployLine('shop', 'with a token');
      await eventually(() => rx.hits.length === 1, 'the batch');
      expect(rx.hits[0]!.headers.authorization).to.equal(`Basic ${Buffer.from('u:s3cret').toString('base64')}`);
      expect(() => addDrain(deps, shop, rx.url.replace('http://', 'http://u:s3cret@') + '?key=k3y', false)).to.throw(/already drains to/);
    } finally {
      await rx.close();
    }
  });

  it("refusals are told in the app's log at most once a minute per drain", async () => {
    const rx = await logplexReceiver();
    rx.decide = () => 400;
    try {
      const shop = app('shop');
      addDrain(deps, shop, rx.url, false);
      for (const n of [1, 2, 3]) {
        manager.deployLine('shop', `refused ${n}`);
        await eventually(() => rx.hits.length >= n, `batch ${n}`);
      }
      const file = path.join(layout.logs('shop'), 'app.log');
      await eventually(() => fs.existsSync(file) && /refused/.test(fs.readFileSync(file, 'utf8')), 'the note');
      await new Promise((r) => setTimeout(r, 200));
      const notes = fs
        .readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l.includes('slipway[drain]'));
      expect(notes).to.have.length(1);
      expect(notes[0]).to.match(/drain \d+ refused 1 line\(s\): HTTP 400/);
    } finally {
      await rx.close();
    }
  });
});
