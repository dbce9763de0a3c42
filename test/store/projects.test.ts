import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Store } from '../../src/store/index.js';

/** The naming rules live in SQLite's unique indexes, so racing writers cannot both win. */
describe('store/projects', () => {
  let store: Store;
  beforeEach(() => {
    store = Store.open(path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-projects-')), 'slipway.db'));
  });
  afterEach(() => store.close());

  it('keeps project names unique per owner and service names unique per project; an app is in one project at most', () => {
    const ann = store.users.add('ann', 'member');
    const bob = store.users.add('bob', 'member');
    const p = store.projects.create({ ownerId: ann.id, name: 'shop' })!;
    expect(store.projects.create({ ownerId: ann.id, name: 'shop' })).to.equal(undefined);
    const q = store.projects.create({ ownerId: bob.id, name: 'shop' })!;
    expect(q.id).to.not.equal(p.id);
    const other = store.projects.create({ ownerId: ann.id, name: 'blog' })!;
    expect(store.projects.update(other.id, { name: 'shop' })).to.equal(false);
    expect(store.projects.byId(other.id)!.name).to.equal('blog');

    const web = store.apps.create({ name: 'shop-web', ownerId: ann.id, env: 'staging', mode: 'cooking' });
    const db = store.apps.create({ name: 'shop-db', ownerId: ann.id, env: 'staging', mode: 'cooking' });
    const s = store.projects.addService({ projectId: p.id, appId: web.id, name: 'web' })!;
    expect(s).to.include({ projectName: 'shop', appName: 'shop-web', name: 'web' });
    expect(store.projects.addService({ projectId: p.id, appId: db.id, name: 'web' })).to.equal(undefined);
    expect(store.projects.addService({ projectId: other.id, appId: web.id, name: 'web' })).to.equal(undefined);
    const d = store.projects.addService({ projectId: p.id, appId: db.id, name: 'db' })!;
    expect(store.projects.renameService(d.id, 'web')).to.equal(false);
  });

  it('deleting a project unlinks its apps without deleting them; destroying an app removes its service', () => {
    const ann = store.users.add('ann', 'member');
    const p = store.projects.create({ ownerId: ann.id, name: 'shop' })!;
    const web = store.apps.create({ name: 'shop-web', ownerId: ann.id, env: 'staging', mode: 'cooking' });
    const db = store.apps.create({ name: 'shop-db', ownerId: ann.id, env: 'staging', mode: 'cooking' });
    store.projects.addService({ projectId: p.id, appId: web.id, name: 'web' });
    store.projects.addService({ projectId: p.id, appId: db.id, name: 'db' });
    store.apps.destroy(db.id);
    expect(store.projects.services(p.id).map((s) => s.name)).to.deep.equal(['web']);
    store.projects.destroy(p.id);
    expect(store.projects.byId(p.id)).to.equal(undefined);
    expect(store.projects.serviceOfApp(web.id)).to.equal(undefined);
    expect(store.apps.byName('shop-web')).to.not.equal(undefined);
  });
});
