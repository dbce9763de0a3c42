import { expect } from 'chai';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { BuiltinRouter } from '../../src/router/builtin.js';
import { NginxRouter } from '../../src/router/nginx.js';
import type { RouterEngine } from '../../src/router/engine.js';
import { SlipwayError } from '../../src/errors.js';
import {
  backendOf,
  echoOf,
  echoOver,
  freePort,
  nginxStateDir,
  openWebsocket,
  request,
  startBackend,
  stopBackend,
  type Answer,
  type TestBackend,
} from './support.js';
import { requires, type Need } from '../support/requires.js';

/**
 * One behaviour, every engine: the same suite runs against the built-in Node
 * proxy and the nginx engine. What only one engine has is tested beside it
 * (builtin.test.ts, nginx.test.ts).
 */

type TestRouter = RouterEngine & { address(): { host: string; port: number } | undefined };

interface Engine {
  name: string;
  /** What the machine must have for this engine's suites (else they skip, or fail under CI). */
  needs: Need[];
  /** A router not listening yet. */
  make(): TestRouter;
  start(): Promise<TestRouter>;
  cleanup?(): void;
}

const stateDirs: string[] = [];
const ENGINES: Engine[] = [
  {
    name: 'builtin',
    needs: [],
    make: () => new BuiltinRouter(),
    start: async () => {
      const router = new BuiltinRouter();
      await router.listen(0, '127.0.0.1');
      return router;
    },
  },
  {
    name: 'nginx',
    needs: ['nginx'],
    make: () => {
      const stateDir = nginxStateDir();
      stateDirs.push(stateDir);
      return new NginxRouter({ stateDir, workerProcesses: 1 });
    },
    start: async () => {
      const stateDir = nginxStateDir();
      stateDirs.push(stateDir);
      const router = new NginxRouter({ stateDir, workerProcesses: 2 });
      await router.listen(0, '127.0.0.1');
      return router;
    },
    cleanup: () => {
      for (const dir of stateDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
    },
  },
];

for (const engine of ENGINES) {
  describe(`router engine: ${engine.name}`, function () {
    this.timeout(30_000);
    requires(...engine.needs);
    let router: TestRouter;
    let port: number;
    let a: TestBackend;
    let b: TestBackend;

    before(async () => {
      [a, b] = await Promise.all([startBackend('a'), startBackend('b')]);
      router = await engine.start();
      port = router.address()!.port;
      await router.setRoute({
        app: 'myapp',
        hosts: ['myapp.localhost', 'WWW.Example.COM'],
        backends: [backendOf('myapp', 1, 1, a), backendOf('myapp', 1, 2, b)],
      });
    });

    after(async () => {
      await router?.close();
      for (const backend of [a, b]) if (backend) await stopBackend(backend);
      engine.cleanup?.();
    });

    it('answers 404 for a host it does not serve', async () => {
      const res = await request(port, 'nope.localhost:8080');
      expect(res.status).to.equal(404);
      expect(res.body.trim()).to.equal('No app is served at nope.localhost');
    });

    it('answers 502 for an app with no backends', async () => {
      await router.setRoute({ app: 'empty', hosts: ['empty.localhost'], backends: [] });
      const res = await request(port, 'empty.localhost');
      expect(res.status).to.equal(502);
      expect(res.body.trim()).to.equal('empty has no running web process');
      await router.removeRoute('empty');
      expect((await request(port, 'empty.localhost')).status).to.equal(404);
    });

    it('answers 502 when the backend refuses connections', async () => {
      await router.setRoute({
        app: 'dead',
        hosts: ['dead.localhost'],
        backends: [{ id: 'dead.v1.web.1', host: '127.0.0.1', port: await freePort() }],
      });
      const res = await request(port, 'dead.localhost');
      expect(res.status).to.equal(502);
      expect(res.body).to.include('dead did not answer');
      await router.removeRoute('dead');
      expect((await request(port, 'dead.localhost')).status).to.equal(404);
    });

    it('round-robins across backends, matching hosts case-insensitively without port', async () => {
      const names: string[] = [];
      for (let i = 0; i < 4; i++) {
        const res = await request(port, i % 2 ? 'www.example.com.' : `MyApp.LocalHost:${port}`);
        expect(res.status).to.equal(200);
        names.push(echoOf(res).name);
      }
      expect(names.filter((n) => n === 'a')).to.have.length(2);
      expect(names.filter((n) => n === 'b')).to.have.length(2);
    });

    it('adds X-Forwarded-* and X-Request-Id, keeping the Host header', async () => {
      const { headers } = echoOf(await request(port, `myapp.localhost:${port}`));
      expect(headers.host).to.equal(`myapp.localhost:${port}`);
      expect(headers['x-forwarded-for']).to.equal('127.0.0.1');
      expect(headers['x-forwarded-proto']).to.equal('http');
      expect(headers['x-forwarded-port']).to.equal(String(port));
      // A UUID from the built-in engine, nginx's 32 hex digits from nginx.
      expect(headers['x-request-id']).to.match(/^[0-9a-f-]{32,36}$/);

      const seen = echoOf(
        await request(port, 'myapp.localhost', {
          headers: { 'x-forwarded-for': '203.0.113.9', 'x-request-id': 'abc-123', 'x-forwarded-proto': 'https' },
        }),
      ).headers;
      expect(seen['x-forwarded-for']).to.equal('203.0.113.9, 127.0.0.1');
      expect(seen['x-request-id']).to.equal('abc-123');
      // Not trusted: a client cannot claim it came over https.
      expect(seen['x-forwarded-proto']).to.equal('http');

      const replaced = echoOf(await request(port, 'myapp.localhost', { headers: { 'x-request-id': 'no spaces allowed' } })).headers;
      expect(replaced['x-request-id']).to.match(/^[0-9a-f-]{32,36}$/);
    });

    it("sets a route's own request headers over any the client sent (the platform route's proof)", async () => {
      await router.setRoute({
        app: '_slipway',
        hosts: ['paas.localhost'],
        backends: [{ id: '_slipway.api', host: '127.0.0.1', port: a.port }],
        headers: { 'X-Slipway-Router': 'k3y_-.x' },
      });
      const seen = echoOf(await request(port, 'paas.localhost', { headers: { 'x-slipway-router': 'forged' } })).headers;
      expect(seen['x-slipway-router']).to.equal('k3y_-.x');
      expect(router.routes().find((r) => r.app === '_slipway')?.headers).to.deep.equal({ 'X-Slipway-Router': 'k3y_-.x' });
      // Other routes do not get it, and the client's own header passes to them untouched.
      const app = echoOf(await request(port, 'myapp.localhost', { headers: { 'x-slipway-router': 'mine' } })).headers;
      expect(app['x-slipway-router']).to.equal('mine');
      await router.removeRoute('_slipway');
    });

    it('refuses to give one host to two apps', async () => {
      const err = await router.setRoute({ app: 'thief', hosts: ['myapp.localhost'], backends: [] }).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(SlipwayError);
      expect((err as SlipwayError).code).to.equal('domain_in_use');
      expect(router.routes().map((r) => r.app)).to.not.include('thief');
      expect((await request(port, 'myapp.localhost')).status).to.equal(200);
    });

    it('passes websocket upgrades through', async () => {
      const socket = await openWebsocket(port, 'myapp.localhost');
      expect(await echoOver(socket, 'ping')).to.match(/^[ab]:ping$/);
      expect(await echoOver(socket, 'again')).to.match(/^[ab]:again$/);
      socket.destroy();
    });

    it('relays bodies both ways: a chunked upload sent after 100-continue, a large answer read slowly, one cut short', async () => {
      // A backend of its own: it echoes what it was sent, streams 3 MB, or dies half-way through its answer.
      const big = Buffer.alloc(3 * 1024 * 1024, 'x');
      const backend = http.createServer((req, res) => {
        if (req.url === '/big') return void res.end(big);
        if (req.url === '/cut') {
          res.writeHead(200, { 'content-length': '1000' });
          res.write('only half');
          return void setTimeout(() => res.socket?.destroy(), 50);
        }
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          res.setHeader('set-cookie', ['a=1', 'b=2']);
          res.end(
            JSON.stringify({
              te: req.headers['transfer-encoding'] ?? null,
              expect: req.headers.expect ?? null,
              body: Buffer.concat(chunks).toString(),
            }),
          );
        });
      });
      await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
      const bport = (backend.address() as net.AddressInfo).port;
      await router.setRoute({
        app: 'bodies',
        hosts: ['bodies.localhost'],
        backends: [{ id: 'bodies.v1.web.1', host: '127.0.0.1', port: bport }],
      });
      try {
        const upload = await new Promise<{ status: number; body: string; cookies: string[] }>((resolve, reject) => {
          const req = http.request({
            host: '127.0.0.1',
            port,
            method: 'POST',
            path: '/echo',
            agent: false,
            headers: { host: 'bodies.localhost', expect: '100-continue' },
          });
          req.on('continue', () => {
            req.write('first,');
            req.end('second');
          });
          req.on('response', (res) => {
            let body = '';
            res.on('data', (c) => (body += c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body, cookies: res.headers['set-cookie'] ?? [] }));
          });
          req.on('error', reject);
        });
        expect(upload.status).to.equal(200);
        expect(JSON.parse(upload.body)).to.include({ body: 'first,second', expect: null });
        expect(upload.cookies).to.deep.equal(['a=1', 'b=2']);

        // Read at a crawl: the router must hold the rest back, not drop or cut it.
        const got = await new Promise<number>((resolve, reject) => {
          http
            .get({ host: '127.0.0.1', port, path: '/big', agent: false, headers: { host: 'bodies.localhost' } }, (res) => {
              let n = 0;
              res.on('data', (c: Buffer) => {
                n += c.length;
                res.pause();
                setTimeout(() => res.resume(), 1);
              });
              res.on('end', () => resolve(n));
              res.on('error', reject);
            })
            .on('error', reject);
        });
        expect(got).to.equal(big.length);

        // An answer the backend cuts short reaches the client cut short, never as a complete one.
        const cut = await new Promise<string>((resolve) => {
          http
            .get({ host: '127.0.0.1', port, path: '/cut', agent: false, headers: { host: 'bodies.localhost' } }, (res) => {
              res.on('data', () => undefined);
              res.on('end', () => resolve(res.complete ? 'complete' : 'cut'));
              res.on('error', () => resolve('cut'));
              res.on('aborted', () => resolve('cut'));
            })
            .on('error', () => resolve('cut'));
        });
        expect(cut).to.equal('cut');
        // And the router still serves.
        expect((await request(port, 'myapp.localhost')).status).to.equal(200);
      } finally {
        await router.removeRoute('bodies');
        backend.closeAllConnections();
        await new Promise((r) => backend.close(r));
      }
    });

    it('proxies a request that takes 3 seconds', async () => {
      const res = await request(port, 'myapp.localhost', { path: '/sleep?ms=3000' });
      expect(res.status).to.equal(200);
      expect(echoOf(res).name).to.match(/^[ab]$/);
    });

    it('switches to new backends under load without failing a request', async () => {
      const [c, d] = await Promise.all([startBackend('c'), startBackend('d')]);
      try {
        await router.setRoute({
          app: 'busy',
          hosts: ['busy.localhost'],
          backends: [backendOf('busy', 1, 1, a), backendOf('busy', 1, 2, b)],
        });
        const results: Array<{ startedAfterSwitch: boolean; answer?: Answer; error?: string }> = [];
        let switched = false;
        let sent = 0;
        let afterSwitch = 0;
        let switching: Promise<void> | undefined;
        // Four clients in a loop: the switch starts after the 50th request, and the
        // load goes on until 50 requests have been sent after it resolved (200 at least).
        const client = async () => {
          while (sent < 200 || afterSwitch < 50) {
            sent++;
            if (sent === 50) {
              switching = router
                .setRoute({ app: 'busy', hosts: ['busy.localhost'], backends: [backendOf('busy', 2, 1, c), backendOf('busy', 2, 2, d)] })
                .then(() => {
                  switched = true;
                });
            }
            const startedAfterSwitch = switched;
            if (startedAfterSwitch) afterSwitch++;
            try {
              results.push({ startedAfterSwitch, answer: await request(port, 'busy.localhost') });
            } catch (err) {
              results.push({ startedAfterSwitch, error: String(err) });
            }
          }
        };
        await Promise.all([client(), client(), client(), client()]);
        await switching;

        const failed = results.filter((r) => r.error || r.answer!.status !== 200);
        expect(failed, JSON.stringify(failed.slice(0, 3))).to.deep.equal([]);
        expect(results.length).to.be.at.least(200);
        const after = results.filter((r) => r.startedAfterSwitch).map((r) => echoOf(r.answer!).name);
        expect(after.length, 'requests sent after the switch resolved').to.be.at.least(50);
        expect(results.length - after.length, 'requests sent before the switch resolved').to.be.at.least(50);
        // Once setRoute has resolved, every new request goes to the new release.
        expect([...new Set(after)].sort()).to.deep.equal(['c', 'd']);
        expect(results.slice(0, 40).map((r) => echoOf(r.answer!).name)).to.satisfy((names: string[]) =>
          names.every((n) => n === 'a' || n === 'b'),
        );
        await router.removeRoute('busy');
      } finally {
        await Promise.all([stopBackend(c), stopBackend(d)]);
      }
    });

    it('drain waits for a slow request in flight to the drained backend', async () => {
      await router.setRoute({ app: 'slowapp', hosts: ['slow.localhost'], backends: [backendOf('slowapp', 1, 1, a)] });
      const pending = request(port, 'slow.localhost', { path: '/slow' });
      const release = await a.slowArrived;

      // The new release takes over; the old backend still owes one answer.
      await router.setRoute({ app: 'slowapp', hosts: ['slow.localhost'], backends: [backendOf('slowapp', 2, 1, b)] });
      expect(echoOf(await request(port, 'slow.localhost')).name).to.equal('b');
      let drained = false;
      const draining = router.drain(['slowapp.v1.web.1'], 15_000).then(() => (drained = true));
      await new Promise((r) => setTimeout(r, 300));
      expect(drained).to.equal(false);

      release();
      await draining;
      expect((await pending).status).to.equal(200);
      expect(echoOf(await request(port, 'slow.localhost')).name).to.equal('b');
    });

    it('drain returns at once for backends with nothing in flight', async () => {
      // With a timeout far beyond the test's own, only an immediate return lets this finish.
      await router.drain(['never.v1.web.1'], 3_600_000);
      await router.drain([], 3_600_000);
    });
  });
}

/** A request to the router at one of its addresses. */
function requestAt(address: string, port: number, host: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: address, port, path: '/', agent: false, headers: { host } }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      })
      .on('error', reject);
  });
}

for (const engine of ENGINES) {
  describe(`router engine: ${engine.name} on several addresses`, function () {
    this.timeout(30_000);
    requires(...engine.needs);
    after(() => engine.cleanup?.());

    it('serves every address it listens on, IPv4 and IPv6', async () => {
      const backend = await startBackend('a');
      const router = engine.make();
      try {
        await router.listen(0, ['127.0.0.1', '::1']);
        const port = router.address()!.port;
        await router.setRoute({ app: 'myapp', hosts: ['myapp.localhost'], backends: [backendOf('myapp', 1, 1, backend)] });
        for (const address of ['127.0.0.1', '::1']) {
          const answer = await requestAt(address, port, 'myapp.localhost');
          expect(answer.status, address).to.equal(200);
          expect(echoOf(answer).name).to.equal('a');
        }
      } finally {
        await router.close();
        await stopBackend(backend);
      }
    });

    it('will not start when another program holds the port on one of them', async () => {
      const port = await freePort();
      const taken = net.createServer();
      await new Promise<void>((r) => taken.listen({ host: '::1', port, ipv6Only: true }, () => r()));
      const router = engine.make();
      try {
        const err = await router.listen(port, ['127.0.0.1', '::1']).catch((e: unknown) => e);
        expect(err).to.be.instanceOf(SlipwayError);
        expect((err as SlipwayError).message).to.equal(
          `cannot listen on [::1]:${port} for the router: another program is listening there (EADDRINUSE)`,
        );
        // Nothing is left holding the IPv4 side.
        await new Promise<void>((resolve, reject) => {
          const s = net.createServer().once('error', reject);
          s.listen(port, '127.0.0.1', () => s.close(() => resolve()));
        });
      } finally {
        await router.close();
        await new Promise((r) => taken.close(r));
      }
    });
  });
}
