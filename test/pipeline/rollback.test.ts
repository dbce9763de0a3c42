import { expect } from 'chai';
import fs from 'node:fs';
import type { DeployContext } from '../../src/pipeline/context.js';
import { JobLog } from '../../src/pipeline/job-log.js';
import { MODES, WORKSPACES } from '../../src/pipeline/modes.js';
import { rollback } from '../../src/pipeline/stages/rollback.js';
import type { App, Release } from '../../src/store/index.js';
import { deployWorld, type DeployWorld } from '../support/deploy-world.js';
import { healthyPort } from '../support/fake-runtime.js';

/** The on-error rollback after the switch: it brings the previous release up the way activate does. */
describe('pipeline/stages/rollback', () => {
  let web: Awaited<ReturnType<typeof healthyPort>>;
  let w: DeployWorld;
  let app: App;
  let ctx: DeployContext;

  before(async () => (web = await healthyPort()));
  after(() => web.close());
  afterEach(() => {
    expect(w.router.routedToStopped, 'routed to a stopped instance').to.deep.equal([]);
    expect(w.driver.stoppedWhileRouted, 'stopped while routed').to.deep.equal([]);
    w.close();
  });

  /** v1 was live with web=2; v2 went live (its instances routed, v1's stopped), then a later stage failed. */
  beforeEach(async () => {
    w = deployWorld(web.port);
    app = w.newApp('back');
    w.store.apps.setFormation(app.id, 'web', 2);
    const job = w.store.jobs.create({
      appId: app.id,
      kind: 'push',
      mode: 'cooking',
      commit: null,
      userName: 'owner',
      params: {},
      logPath: () => `${w.home}/job.log`,
    });
    const make = (): Release => {
      const r = w.store.releases.create({
        appId: app.id,
        kind: 'build',
        commit: null,
        author: 'owner',
        description: 'test',
        config: {},
        jobId: job.id,
      });
      w.store.releases.update(r.id, { processTypes: { web: 'node server.js' } });
      fs.mkdirSync(w.layout.release('back', r.version), { recursive: true });
      return w.store.releases.get(app.id, r.version)!;
    };
    make();
    const v2 = make();
    w.store.apps.setCurrentRelease(app.id, 2);
    const spec = (index: number) => ({
      app: 'back',
      release: 2,
      type: 'web',
      index,
      command: '',
      releaseDir: w.home,
      dataDir: w.home,
      env: {},
      logFile: '/dev/null',
    });
    const started = [await w.driver.start(spec(1)), await w.driver.start(spec(2))];
    await w.router.setRoute({
      app: 'back',
      hosts: ['back.test.localhost'],
      backends: started.map((i) => ({ id: i.id, host: '127.0.0.1', port: i.port! })),
    });
    w.driver.startedIds.length = 0;
    ctx = {
      services: w.services,
      app: w.store.apps.byId(app.id)!,
      job,
      mode: 'cooking',
      stages: MODES.cooking,
      workspace: WORKSPACES.cooking,
      source: { kind: 'tarball', file: '/nonexistent' },
      releaseKind: 'build',
      log: new JobLog(`${w.home}/job.log`),
      signal: new AbortController().signal,
      config: {},
      release: v2,
      workDir: w.layout.build('back'),
      buildpacks: [],
      processTypes: { web: 'node server.js' },
      configVars: {},
      previous: { version: 1, instances: [] },
      started,
      switched: true,
      startedAt: 0,
    };
  });

  it('starts v1 again, switches the router and the record back, then stops v2', async () => {
    await rollback(ctx);
    expect(w.router.routedIds('back')).to.deep.equal(['back.v1.web.1', 'back.v1.web.2']);
    expect(w.driver.running().sort()).to.deep.equal(['back.v1.web.1', 'back.v1.web.2']);
    expect(w.store.apps.byId(app.id)!.currentRelease).to.equal(1);
    expect(fs.existsSync(w.layout.release('back', 2))).to.equal(false);
  });

  it("when v1's second instance cannot start, stops the first and leaves v2 serving", async () => {
    w.driver.failStart = 'web.2';
    const err = await rollback(ctx).catch((e: Error) => e);
    expect(String(err)).to.include('cannot start web.2');
    expect(w.driver.startedIds).to.deep.equal(['back.v1.web.1']);
    expect(w.driver.stoppedIds).to.deep.equal(['back.v1.web.1']);
    expect(w.driver.running().sort()).to.deep.equal(['back.v2.web.1', 'back.v2.web.2']);
    expect(w.router.routedIds('back')).to.deep.equal(['back.v2.web.1', 'back.v2.web.2']);
    expect(w.store.apps.byId(app.id)!.currentRelease).to.equal(2);
  });
});
