import { expect } from 'chai';
import { BuiltinRouter } from '../../src/router/builtin.js';
import type { Socket } from 'node:net';
import { backendOf, echoOf, request, startBackend, stopBackend, type TestBackend } from './support.js';
import { eventually } from '../e2e/harness.js';

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

  it("a client's Connection: close and other hop-by-hop headers stay with its connection: the backend's is kept for the next request", async () => {
    await router.setRoute({ app: 'hop', hosts: ['hop.localhost'], backends: [backendOf('hop', 1, 1, a)] });
    const accepted: number[] = [];
    const count = () => accepted.push(1);
    a.server.on('connection', count);
    try {
      for (let i = 0; i < 5; i++) {
        // Each request on a connection of its own that the client closes (agent: false sends Connection: close).
        const res = await request(port, 'hop.localhost', {
          headers: { 'keep-alive': 'timeout=1', te: 'trailers', 'proxy-connection': 'close' },
        });
        expect(res.status).to.equal(200);
        const got = echoOf(res).headers;
        expect(got.connection).to.not.equal('close');
        for (const h of ['keep-alive', 'te', 'proxy-connection']) expect(got[h], h).to.equal(undefined);
        expect(got['x-forwarded-for']).to.equal('127.0.0.1');
      }
      // Five clients' connections, one backend connection: a new one each time would be five.
      expect(accepted.length).to.be.at.most(1);
    } finally {
      a.server.off('connection', count);
    }
  });

  it('a backend out of its route loses its idle pooled connections, so an app waiting for its connections before it exits can stop', async () => {
    // Fresh backends: the suite's own already have pooled connections from the tests before.
    const [old, next] = await Promise.all([startBackend('old'), startBackend('next')]);
    const closed = new Map<string, boolean>();
    for (const backend of [old, next])
      backend.server.on('connection', (socket: Socket) => {
        closed.set(backend.name, false);
        socket.on('close', () => closed.set(backend.name, true));
      });
    try {
      await router.setRoute({ app: 'idle', hosts: ['idle.localhost'], backends: [backendOf('idle', 1, 1, old)] });
      expect((await request(port, 'idle.localhost')).status).to.equal(200);
      await router.setRoute({ app: 'idle', hosts: ['idle.localhost'], backends: [backendOf('idle', 2, 1, next)] });
      expect(echoOf(await request(port, 'idle.localhost')).name).to.equal('next');
      // Nothing can reach it any more: its idle connection goes with the switch, before the drain.
      await eventually(() => closed.get('old') === true, "the old backend's connection closed");
      await router.drain(['idle.v1.web.1'], 5000);
      expect(closed.get('next'), 'the live backend keeps its pool').to.equal(false);
    } finally {
      await Promise.all([stopBackend(old), stopBackend(next)]);
    }
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
