import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { rotateReleases } from '../../src/releases/rotate.js';
import { Store } from '../../src/store/index.js';
import { Layout } from '../../src/store/layout.js';

describe('releases/rotate', () => {
  function setup(versions: Array<'succeeded' | 'failed'>, live: number) {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-rotate-'));
    const layout = new Layout(home);
    const store = Store.open(layout.db);
    const owner = store.users.add('admin', 'admin');
    const app = store.apps.create({ name: 'app', ownerId: owner.id, env: 'staging', mode: 'cooking' });
    const job = store.jobs.create({
      appId: app.id,
      kind: 'push',
      mode: 'cooking',
      commit: null,
      userName: 'admin',
      params: {},
      logPath: () => '/dev/null',
    });
    for (const status of versions) {
      const r = store.releases.create({
        appId: app.id,
        kind: 'build',
        commit: null,
        author: 'admin',
        description: '',
        config: {},
        jobId: job.id,
      });
      const file = path.join(layout.archives('app'), `v${r.version}-x.tar.gz`);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, 'x');
      fs.mkdirSync(layout.release('app', r.version), { recursive: true });
      store.releases.update(r.id, { archivePath: file });
      store.releases.finish(r.id, status);
    }
    store.apps.setCurrentRelease(app.id, live);
    return { store, layout, app };
  }

  it('keeps the newest N succeeded releases and marks the rest pruned, removing their bytes', async () => {
    const { store, layout, app } = setup(['succeeded', 'succeeded', 'succeeded', 'succeeded', 'succeeded', 'succeeded', 'succeeded'], 7);
    const pruned = await rotateReleases({ store, layout, appId: app.id, appName: 'app', keep: 3 });
    expect(pruned).to.deep.equal([4, 3, 2, 1]);
    expect(store.releases.list(app.id).map((r) => `${r.version}:${r.status}`)).to.deep.equal([
      '7:succeeded',
      '6:succeeded',
      '5:succeeded',
      '4:pruned',
      '3:pruned',
      '2:pruned',
      '1:pruned',
    ]);
    expect(fs.existsSync(layout.release('app', 4))).to.equal(false);
    expect(fs.existsSync(layout.release('app', 5))).to.equal(true);
  });

  it('never prunes the live release or its predecessor, even after a rollback to an old one', async () => {
    const { store, layout, app } = setup(['succeeded', 'succeeded', 'succeeded', 'succeeded', 'succeeded', 'failed'], 2);
    await rotateReleases({ store, layout, appId: app.id, appName: 'app', keep: 2 });
    const status = Object.fromEntries(store.releases.list(app.id).map((r) => [r.version, r.status]));
    expect(status[2]).to.equal('succeeded');
    expect(status[1]).to.equal('succeeded');
    expect(status[3]).to.equal('pruned');
    expect(status[6]).to.equal('failed');
  });
});
