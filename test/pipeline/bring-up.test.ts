import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bringUp } from '../../src/pipeline/bring-up.js';
import type { Instance } from '../../src/runtime/driver.js';
import { deadPort, fakeWorld, healthyPort, type FakeWorld } from '../support/fake-runtime.js';

describe('pipeline/bring-up', () => {
  let web: Awaited<ReturnType<typeof healthyPort>>;
  let dir: string;
  let w: FakeWorld;
  const release = () => ({ version: 2, dir, env: {}, processTypes: { web: 'node server.js', worker: 'node worker.js' } });
  const ids = (...names: string[]) => names.map((n) => `demo.v2.${n}`);
  const never = () => new AbortController().signal;

  before(async () => {
    web = await healthyPort();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-bring-up-'));
  });
  after(async () => {
    await web.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    w = fakeWorld(web.port, { healthTimeoutMs: 400 });
    Object.assign(w.formation, { web: 2, worker: 1 });
  });
  // Whatever happened, the router never sent traffic to an instance that was not running.
  afterEach(() => {
    expect(w.router.routedToStopped, 'routed to a stopped instance').to.deep.equal([]);
    expect(w.driver.stoppedWhileRouted, 'stopped while the router pointed at it').to.deep.equal([]);
    for (const id of w.router.routedIds()) expect(w.driver.running()).to.include(id);
  });

  /** An instance of v1 already serving, as a deploy finds it. */
  async function v1Serving(): Promise<Instance> {
    const old = await w.driver.start({
      app: 'demo',
      release: 1,
      type: 'web',
      index: 1,
      command: '',
      releaseDir: dir,
      dataDir: dir,
      env: {},
      logFile: '/dev/null',
    });
    await w.router.setRoute({
      app: 'demo',
      hosts: ['demo.test.localhost'],
      backends: [{ id: old.id, host: '127.0.0.1', port: old.port! }],
    });
    w.driver.startedIds.length = 0;
    return old;
  }

  it('starts the formation, waits for health, then routes the web instances and records each instance', async () => {
    const record: Instance[] = [];
    const started = await bringUp(w.services, w.app, release(), {
      signal: never(),
      record,
      beforeSwitch: () => (w.currentRelease.value = 2),
    });
    expect(started.map((i) => i.id)).to.deep.equal(ids('web.1', 'web.2', 'worker.1'));
    expect(record.map((i) => i.id)).to.deep.equal(ids('web.1', 'web.2', 'worker.1'));
    expect(w.router.routedIds('demo')).to.deep.equal(ids('web.1', 'web.2'));
    expect(w.driver.stoppedIds).to.deep.equal([]);
    expect(w.currentRelease.value).to.equal(2);
  });

  it('records each instance the moment it starts, before the next one is asked for', async () => {
    const record: Instance[] = [];
    const seen: string[][] = [];
    w.driver.onStart = () => seen.push(record.map((i) => i.id));
    await bringUp(w.services, w.app, release(), { signal: never(), record });
    expect(seen).to.deep.equal([[], ids('web.1'), ids('web.1', 'web.2')]);
  });

  for (const [n, failing] of [
    [1, 'web.1'],
    [2, 'web.2'],
    [3, 'worker.1'],
  ] as const) {
    it(`a failed start of instance ${n} (${failing}) stops exactly the ${n - 1} started before it and leaves the router alone`, async () => {
      const old = await v1Serving();
      w.driver.failStart = failing;
      const record: Instance[] = [];
      const err = await bringUp(w.services, w.app, release(), { signal: never(), record }).catch((e: Error) => e);
      expect(String(err)).to.include(`cannot start ${failing}`);
      const before = ids('web.1', 'web.2', 'worker.1').slice(0, n - 1);
      expect(w.driver.startedIds).to.deep.equal(before);
      expect(w.driver.stoppedIds.sort()).to.deep.equal([...before].sort());
      expect(w.driver.running()).to.deep.equal([old.id]);
      expect(w.router.routedIds('demo')).to.deep.equal([old.id]);
      expect(record).to.deep.equal([]);
    });
  }

  it('an instance that exits before it is healthy fails the bring-up; every instance started is stopped', async () => {
    const old = await v1Serving();
    w.driver.exitsAtOnce = 'web.2';
    const err = await bringUp(w.services, w.app, release(), { signal: never() }).catch((e: Error) => e);
    expect(String(err)).to.include('web.2 exited with status 1 before it was healthy');
    expect(w.driver.stoppedIds.sort()).to.deep.equal(ids('web.1', 'web.2', 'worker.1'));
    expect(w.driver.running()).to.deep.equal([old.id]);
    expect(w.router.routedIds('demo')).to.deep.equal([old.id]);
  });

  it('a web instance that never answers fails the health check; every instance started is stopped', async () => {
    w.driver.silent = { name: 'web.2', port: await deadPort() };
    let switched = false;
    const err = await bringUp(w.services, w.app, release(), { signal: never(), beforeSwitch: () => (switched = true) }).catch(
      (e: Error) => e,
    );
    expect(err).to.be.instanceOf(Error);
    expect(switched, 'beforeSwitch ran').to.equal(false);
    expect(w.driver.running()).to.deep.equal([]);
    expect(w.router.history).to.deep.equal([]);
  });

  it('a failed switch undoes beforeSwitch, stops every instance started and leaves the old route', async () => {
    const old = await v1Serving();
    w.currentRelease.value = 1;
    w.router.failSetRoute = true;
    const record: Instance[] = [];
    const err = await bringUp(w.services, w.app, release(), {
      signal: never(),
      record,
      beforeSwitch: () => (w.currentRelease.value = 2),
      switchFailed: () => (w.currentRelease.value = 1),
    }).catch((e: Error) => e);
    expect(String(err)).to.include('could not be reloaded');
    expect(w.currentRelease.value).to.equal(1);
    expect(w.driver.stoppedIds.sort()).to.deep.equal(ids('web.1', 'web.2', 'worker.1'));
    expect(w.driver.running()).to.deep.equal([old.id]);
    expect(w.router.routedIds('demo')).to.deep.equal([old.id]);
    expect(record).to.deep.equal([]);
  });

  it('an abort between two starts stops what was started and starts nothing more', async () => {
    const abort = new AbortController();
    w.driver.onStart = (i) => i.index === 2 && abort.abort(new Error('the Slipway server is shutting down'));
    const err = await bringUp(w.services, w.app, release(), { signal: abort.signal }).catch((e: Error) => e);
    expect(String(err)).to.include('shutting down');
    expect(w.driver.startedIds).to.deep.equal(ids('web.1', 'web.2'));
    expect(w.driver.stoppedIds.sort()).to.deep.equal(ids('web.1', 'web.2'));
    expect(w.router.history).to.deep.equal([]);
  });

  it('an abort during the health check stops every instance started and never switches', async () => {
    w = fakeWorld(web.port, { healthTimeoutMs: 60_000 });
    w.driver.silent = { name: 'web.1', port: await deadPort() };
    const abort = new AbortController();
    w.driver.onStart = () => setTimeout(() => abort.abort(new Error('cancelled')), 50);
    const err = await bringUp(w.services, w.app, release(), { signal: abort.signal }).catch((e: Error) => e);
    expect(err).to.be.instanceOf(Error);
    expect(w.driver.stoppedIds).to.deep.equal(ids('web.1'));
    expect(w.router.history).to.deep.equal([]);
  });

  it('starts only the instances asked for and routes them beside the ones kept, each once', async () => {
    const old = await v1Serving();
    const started = await bringUp(w.services, w.app, release(), {
      signal: never(),
      instances: [['web', 3]],
      keep: () => w.services.driver.instances('demo'),
    });
    expect(started.map((i) => i.id)).to.deep.equal(ids('web.3'));
    expect(w.router.routedIds('demo')).to.deep.equal([old.id, 'demo.v2.web.3']);
  });
});
