import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Services } from '../../src/pipeline/context.js';
import { deployProviderPreview, expirePreviews } from '../../src/pipeline/previews.js';
import { DeployQueue } from '../../src/pipeline/queue.js';
import { Store } from '../../src/store/index.js';
import { Layout } from '../../src/store/layout.js';
import { previewName } from '../../src/vendors/preview-name.js';

const DAY = 86_400_000;

describe('pipeline/previews', () => {
  it("removes only the previews whose last push is older than their parent's previews.ttl, with their repo, files and processes", async () => {
    const store = Store.open(':memory:');
    const layout = new Layout(fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-previews-')));
    const removed: string[] = [];
    const stopped: string[] = [];
    const services = { store, layout, driver: { removeApp: async (a: string) => void removed.push(a) } } as unknown as Services;
    const queue = new DeployQueue(services);
    const owner = store.users.add('alice', 'member');
    const parent = store.apps.create({ name: 'shop', ownerId: owner.id, env: 'staging', mode: 'cooking' });
    store.apps.setSetting(parent.id, 'previews.ttl', '2');
    const now = Date.now();
    for (const [name, age] of [
      ['shop-pr-old', 3 * DAY],
      ['shop-pr-fresh', 1 * DAY],
    ] as const) {
      const app = store.apps.create({ name, ownerId: owner.id, env: 'dev', mode: 'cooking' });
      store.previews.link(app.id, parent.id, name.slice(8));
      store.db.prepare('UPDATE previews SET pushed_at = ? WHERE app_id = ?').run(now - age, app.id);
      fs.mkdirSync(layout.repo(name), { recursive: true });
      fs.mkdirSync(layout.app(name), { recursive: true });
    }
    const names = await expirePreviews({ services, queue, stopApp: async (a) => void stopped.push(a) }, now);
    expect(names).to.deep.equal(['shop-pr-old']);
    expect(stopped).to.deep.equal(['shop-pr-old']);
    expect(removed).to.deep.equal(['shop-pr-old']);
    expect(store.apps.byName('shop-pr-old')).to.equal(undefined);
    expect(fs.existsSync(layout.repo('shop-pr-old'))).to.equal(false);
    expect(fs.existsSync(layout.app('shop-pr-old'))).to.equal(false);
    expect(store.apps.byName('shop-pr-fresh')).to.not.equal(undefined);
    expect(fs.existsSync(layout.repo('shop-pr-fresh'))).to.equal(true);
    expect(store.apps.byName('shop')).to.not.equal(undefined);
    store.close();
  });

  it('makes no preview app for a pull request whose branch the source cannot name (it could never deploy, only linger)', async () => {
    const store = Store.open(':memory:');
    const layout = new Layout(fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-previews-')));
    const services = { store, layout } as unknown as Services;
    const owner = store.users.add('alice', 'member');
    const parent = store.apps.create({ name: 'shop', ownerId: owner.id, env: 'staging', mode: 'cooking' });
    store.apps.setSetting(parent.id, 'source', 'github:acme/shop#main');
    store.apps.setSetting(parent.id, 'previews', 'true');
    let error: unknown;
    await deployProviderPreview(
      { services, queue: new DeployQueue(services) },
      store.apps.byId(parent.id)!,
      'fix#1',
      'github-webhook',
    ).catch((e) => (error = e));
    expect(String((error as Error)?.message)).to.match(/not a (valid branch name|repository path)/);
    // A URL source would read `…#fix#1` as the branch `1`: a preview of another branch than the request's.
    store.apps.setSetting(parent.id, 'source', 'https://git.example.com/acme/shop.git#main');
    error = undefined;
    await deployProviderPreview(
      { services, queue: new DeployQueue(services) },
      store.apps.byId(parent.id)!,
      'fix#1',
      'github-webhook',
    ).catch((e) => (error = e));
    expect(String((error as Error)?.message)).to.match(/not a valid branch name/);
    expect(store.apps.list().map((a) => a.name)).to.deep.equal(['shop']);
    expect(fs.existsSync(layout.repo(previewName('shop', 'fix#1')))).to.equal(false);
    store.close();
  });
});
