import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { prepareFirstDeploy, takeTurn } from '../../src/pipeline/head-start.js';
import type { Services } from '../../src/pipeline/context.js';
import { DeployQueue } from '../../src/pipeline/queue.js';
import { Layout } from '../../src/store/layout.js';
import { Store, type App } from '../../src/store/index.js';

/** A member's head starts without a push (apps:create, apps:set driver=…): one app at a time. */
describe('pipeline/head-start: one app of a member at a time', () => {
  let store: Store;
  let services: Pick<Services, 'store' | 'settings'>;
  let n = 0;
  const appOf = (owner: number) => store.apps.create({ name: `app${++n}`, ownerId: owner, env: 'staging', mode: 'cooking' });
  const fresh = (app: App) => store.apps.byId(app.id)!;
  beforeEach(() => {
    store = Store.open(path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-head-start-')), 'slipway.db'));
    services = { store, settings: { buildKeepWarmMs: 300 } as Services['settings'] };
  });
  afterEach(() => store.close());

  it('a burst of creates: the first app only, and the same app again', () => {
    const eve = store.users.add('eve', 'member').id;
    const [a, b, c] = [appOf(eve), appOf(eve), appOf(eve)];
    expect([takeTurn(services, a), takeTurn(services, b), takeTurn(services, c)]).to.deep.equal([true, false, false]);
    // A driver flip of the app that holds the turn replaces its own head starts.
    expect(takeTurn(services, a)).to.equal(true);
  });

  it('the turn passes on when the holder is deployed, or its time is over; not when it is destroyed', async () => {
    const eve = store.users.add('eve', 'member').id;
    const [a, b, c] = [appOf(eve), appOf(eve), appOf(eve)];
    expect(takeTurn(services, a)).to.equal(true);
    store.apps.setCurrentRelease(a.id, 1);
    expect(takeTurn(services, fresh(b))).to.equal(true);
    // Destroying the holder does not free the turn: create-and-destroy would otherwise spend a uid each time.
    store.apps.destroy(b.id);
    expect(takeTurn(services, c)).to.equal(false);
    await sleep(350);
    expect(takeTurn(services, c)).to.equal(true);
  });

  it('apps already deployed take turns too (driver changes), each owner has their own, admins are not bounded', () => {
    const eve = store.users.add('eve', 'member').id;
    const bob = store.users.add('bob', 'member').id;
    const root = store.users.add('root2', 'admin').id;
    const [a, b] = [appOf(eve), appOf(eve)];
    store.apps.setCurrentRelease(a.id, 3);
    store.apps.setCurrentRelease(b.id, 5);
    expect([takeTurn(services, fresh(a)), takeTurn(services, fresh(b))]).to.deep.equal([true, false]);
    expect(takeTurn(services, appOf(bob))).to.equal(true);
    const [x, y] = [appOf(root), appOf(root)];
    expect([takeTurn(services, x), takeTurn(services, y)]).to.deep.equal([true, true]);
  });

  it("waits for the app's lock: an app destroyed meanwhile (apps:destroy holds it) gets nothing, not even its dir again", async () => {
    const eve = store.users.add('eve', 'member').id;
    const layout = new Layout(fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-head-start-home-')));
    const platform = {
      services: { ...services, layout, driver: {}, settings: { ...services.settings, defaultDriver: 'process' } } as unknown as Services,
    };
    const queue = new DeployQueue(platform.services);
    const [a, b] = [appOf(eve), appOf(eve)];
    let release!: () => void;
    const destroying = queue.exclusive(a.id, () => new Promise<void>((r) => (release = r)));
    const started = prepareFirstDeploy({ ...platform, queue }, a);
    await sleep(20);
    expect(fs.existsSync(layout.app(a.name)), 'nothing begins while the lock is held').to.equal(false);
    // What apps:destroy does last, under the lock.
    store.apps.destroy(a.id);
    release();
    await Promise.all([destroying, started]);
    expect(fs.existsSync(layout.app(a.name)), "the destroyed app's dir is not made again").to.equal(false);
    // The destroyed app took no turn: the member's next app gets its head starts.
    await prepareFirstDeploy({ ...platform, queue }, b);
    expect(fs.existsSync(layout.app(b.name)), "the next app's first build dir").to.equal(true);
    expect(takeTurn(platform.services, appOf(eve)), 'b holds the turn now').to.equal(false);
  });
});
