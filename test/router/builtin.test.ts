import { expect } from 'chai';
import { BuiltinRouter } from '../../src/router/builtin.js';
import { backendOf, request, startBackend, stopBackend, type TestBackend } from './support.js';

// What every engine does is in engines.test.ts; this is what only the built-in one has.
describe('BuiltinRouter', function () {
  this.timeout(20_000);
  let router: BuiltinRouter;
  let port: number;
  let a: TestBackend;
  let b: TestBackend;

  before(async () => {
    [a, b] = await Promise.all([startBackend('a'), startBackend('b')]);
    router = new BuiltinRouter();
    await router.listen(0, '127.0.0.1');
    port = router.address()!.port;
  });

  after(async () => {
    await router.close();
    for (const backend of [a, b]) await stopBackend(backend);
  });

  it('counts requests in flight per backend until they end', async () => {
    await router.setRoute({ app: 'slowapp', hosts: ['slow.localhost'], backends: [backendOf('slowapp', 1, 1, a)] });
    const pending = request(port, 'slow.localhost', { path: '/slow' });
    const release = await a.slowArrived;
    expect(router.inFlightCount('slowapp.v1.web.1')).to.equal(1);
    await router.setRoute({ app: 'slowapp', hosts: ['slow.localhost'], backends: [backendOf('slowapp', 2, 1, b)] });
    expect(router.inFlightCount('slowapp.v1.web.1')).to.equal(1);
    release();
    expect((await pending).status).to.equal(200);
    await router.drain(['slowapp.v1.web.1'], 5000);
    expect(router.inFlightCount('slowapp.v1.web.1')).to.equal(0);
  });

  it('drain gives up after its timeout', async () => {
    const logged: string[] = [];
    const quiet = new BuiltinRouter({ log: (m) => logged.push(m) });
    quiet['inFlight'].begin('stuck.v1.web.1');
    await quiet.drain(['stuck.v1.web.1'], 50);
    expect(logged.join('\n')).to.include('drain gave up after 50ms');
    quiet['inFlight'].end('stuck.v1.web.1');
    await quiet.close();
  });
});
