import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { recoverJobs } from '../../src/daemon/boot.js';
import type { App, Mode, Release } from '../../src/store/index.js';
import { deployWorld, type DeployWorld } from '../support/deploy-world.js';

/**
 * What a restarted daemon does with the deploys it was running, per mode:
 * where a mode placed its release is WORKSPACES' answer (modes.ts), the same
 * the stages ask, so an editable app's work tree is never taken for a
 * half-placed release.
 */
describe('daemon/boot: recovering interrupted deploys', () => {
  let w: DeployWorld;
  beforeEach(() => (w = deployWorld()));
  afterEach(() => w.close());

  /** A running deploy of `app` that had made release v1 and placed its code where `mode` places it; the daemon then died. */
  function interrupted(app: App, mode: Mode): { jobId: number; release: Release; dir: string } {
    const { store, layout } = w;
    const job = store.jobs.create({
      appId: app.id,
      kind: 'push',
      mode,
      commit: null,
      userName: 'owner',
      params: {},
      logPath: (id) => path.join(w.home, `job-${id}.log`),
    });
    store.jobs.start(job.id);
    const release = store.releases.create({
      appId: app.id,
      kind: 'build',
      commit: null,
      author: 'owner',
      description: 'a push',
      config: {},
      jobId: job.id,
    });
    store.jobs.setRelease(job.id, release.version);
    const dir = mode === 'editable' ? path.join(layout.app(app.name), 'work') : layout.release(app.name, release.version);
    // What init-sync made before it placed the code.
    fs.mkdirSync(layout.releases(app.name), { recursive: true });
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'server.js'), 'the code\n');
    return { jobId: job.id, release, dir };
  }

  it('a cooking deploy that never went live: failed, and its half-placed release directory removed', async () => {
    const app = w.newApp('cook', 'cooking');
    const { jobId, dir } = interrupted(app, 'cooking');
    await recoverJobs(w.services, () => undefined);
    expect(w.store.jobs.get(jobId)).to.include({ status: 'failed' });
    expect(fs.existsSync(dir)).to.equal(false);
  });

  it("an editable deploy that never went live: failed, and the app's work tree (its code) stays", async () => {
    const app = w.newApp('edit', 'editable');
    const { jobId, release, dir } = interrupted(app, 'editable');
    await recoverJobs(w.services, () => undefined);
    expect(w.store.jobs.get(jobId)).to.include({ status: 'failed' });
    expect(w.store.releases.get(app.id, release.version)).to.include({ status: 'failed' });
    expect(fs.readFileSync(path.join(dir, 'server.js'), 'utf8')).to.equal('the code\n');
  });

  for (const mode of ['editable', 'cooking'] as const) {
    it(`a deploy in ${mode} mode whose release had gone live: it stays live, and \`current\` points where the mode runs it from`, async () => {
      const app = w.newApp(`live-${mode}`, mode);
      const { release, dir } = interrupted(app, mode);
      w.store.apps.setCurrentRelease(app.id, release.version);
      await recoverJobs(w.services, () => undefined);
      expect(w.store.releases.get(app.id, release.version)).to.include({ status: 'succeeded' });
      expect(fs.readlinkSync(w.layout.current(app.name))).to.equal(dir);
    });
  }
});
