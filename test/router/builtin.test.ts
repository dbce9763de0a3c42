import { expect } from 'chai';
import { BuiltinRouter } from '../../src/router/builtin.js';
import net, { type Socket } from 'node:net';
import http from 'node:http';
import http2 from 'node:http2';
import fs from 'node:fs';
import { makeLeaf, makePki } from '../tls/pki.js';
import { freePort as freePortOf } from '../e2e/harness.js';
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

  describe('answers as a backend sent them, and requests that name no path', () => {
    // A backend writing raw bytes: what node:http itself would never send.
    let raw: net.Server;
    let rawPort: number;
    before(async () => {
      raw = net.createServer((socket) => {
        socket.on('error', () => undefined);
        let seen = '';
        socket.on('data', (d) => {
          seen += d.toString('latin1');
          while (seen.includes('\r\n\r\n')) {
            seen = seen.slice(seen.indexOf('\r\n\r\n') + 4);
            const body = 'hi';
            socket.write(
              Buffer.concat([
                Buffer.from('HTTP/1.1 200 Ok \u2713\r\n', 'utf8'),
                Buffer.from(
                  'content-type: text/plain\r\ncontent-type: text/html\r\nconstructor: x\r\nset-cookie: a=1\r\nset-cookie: b=2\r\n',
                  'latin1',
                ),
                Buffer.concat([
                  Buffer.from('content-disposition: attachment; filename="', 'latin1'),
                  Buffer.from('résumé', 'utf8'),
                  Buffer.from('"\r\n', 'latin1'),
                ]),
                Buffer.from(`content-length: ${body.length}\r\n\r\n${body}`, 'latin1'),
              ]),
            );
          }
        });
      });
      await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
      rawPort = (raw.address() as net.AddressInfo).port;
      await router.setRoute({ app: 'raw', hosts: ['raw.localhost'], backends: [{ id: 'raw.v1.web.1', host: '127.0.0.1', port: rawPort }] });
    });
    after(async () => {
      await router.removeRoute('raw');
      await new Promise((r) => raw.close(r));
    });

    it('relays header bytes as sent, drops a second Content-Type as node:http does, and survives a bad reason phrase', async () => {
      const res = await new Promise<http.IncomingMessage & { body: string }>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port, path: '/', agent: false, headers: { host: 'raw.localhost' } }, (r) => {
            let body = '';
            r.on('data', (c) => (body += c));
            r.on('end', () => resolve(Object.assign(r, { body })));
          })
          .on('error', reject);
      });
      expect(res.statusCode).to.equal(200);
      expect(res.body).to.equal('hi');
      expect(res.headers['content-type']).to.equal('text/plain');
      expect(res.headers.constructor).to.equal('x');
      expect(res.headers['set-cookie']).to.deep.equal(['a=1', 'b=2']);
      // The UTF-8 bytes of the file name arrive unchanged (node:http reads header bytes as latin1).
      const disposition = res.rawHeaders[res.rawHeaders.findIndex((h) => h.toLowerCase() === 'content-disposition') + 1]!;
      expect(Buffer.from(disposition, 'latin1').toString('utf8')).to.equal('attachment; filename="résumé"');
    });

    it('answers 400 to a request for no path (OPTIONS *), however many, and keeps no connection per request', async () => {
      for (let i = 0; i < 50; i++) {
        const answer = await new Promise<string>((resolve, reject) => {
          const s = net.connect(port, '127.0.0.1', () => s.end('OPTIONS * HTTP/1.1\r\nHost: raw.localhost\r\nConnection: close\r\n\r\n'));
          let text = '';
          s.on('data', (d) => (text += d));
          s.on('end', () => resolve(text));
          s.on('error', reject);
        });
        expect(answer).to.match(/^HTTP\/1\.1 400 /);
      }
      // A burst of concurrent requests leaves at most the pool's idle connections behind.
      await Promise.all(Array.from({ length: 100 }, () => request(port, 'raw.localhost')));
      const pools = (router as unknown as { upstreams: { pools: Map<string, { size: number }> } }).upstreams.pools;
      expect(pools.get(`127.0.0.1:${rawPort}`)!.size).to.be.at.most(32);
    });
  });

  describe('backends that fail around a request with a body, or as it is checked', () => {
    it("a POST whose backend drops it after reading its body gets a 502; the request's access line and in-flight count are right", async () => {
      const entries: Array<{ fwd: string; status: number }> = [];
      const logged: string[] = [];
      const r = new BuiltinRouter({ log: (m) => logged.push(m) });
      r.onAccess = (e) => entries.push({ fwd: e.fwd, status: e.status });
      await r.listen(0, '127.0.0.1');
      let drop = true;
      const backend = http.createServer((req, res) => {
        req.resume();
        req.on('end', () => (drop ? req.socket.destroy() : res.end('ok')));
      });
      await new Promise<void>((ok) => backend.listen(0, '127.0.0.1', ok));
      const bport = (backend.address() as net.AddressInfo).port;
      await r.setRoute({ app: 'post', hosts: ['post.localhost'], backends: [{ id: 'post.v1.web.1', host: '127.0.0.1', port: bport }] });
      const post = () =>
        new Promise<number>((resolve, reject) => {
          const req = http.request(
            { host: '127.0.0.1', port: r.address()!.port, method: 'POST', path: '/', agent: false, headers: { host: 'post.localhost' } },
            (res) => {
              res.resume();
              res.on('end', () => resolve(res.statusCode ?? 0));
            },
          );
          req.on('error', reject);
          req.end('a body');
        });
      try {
        expect(await post()).to.equal(502);
        await eventually(() => r.inFlightCount('post.v1.web.1') === 0, 'no request left in flight');
        drop = false;
        expect(await post()).to.equal(200);
        await eventually(() => entries.length === 1, 'the access line of the relayed answer');
        expect(entries[0]).to.deep.equal({ fwd: '127.0.0.1', status: 200 });
        expect(logged.join('\n')).to.not.match(/access line for/);
      } finally {
        await r.close();
        backend.closeAllConnections();
        await new Promise((ok) => backend.close(ok));
      }
    });

    it('a backend that closes each connection while it is being checked gets 502s, never a request hanging, and serves again once it stops', async () => {
      const r = new BuiltinRouter();
      // The ownership check takes a while, as asking the kernel can.
      r.owns = async () => {
        await new Promise((ok) => setTimeout(ok, 50));
        return true;
      };
      await r.listen(0, '127.0.0.1');
      let hangUp = true;
      const backend = http.createServer((_req, res) => res.end('ok'));
      backend.on('connection', (socket: Socket) => {
        if (hangUp) socket.destroy();
      });
      await new Promise<void>((ok) => backend.listen(0, '127.0.0.1', ok));
      const bport = (backend.address() as net.AddressInfo).port;
      await r.setRoute({ app: 'flaky', hosts: ['flaky.localhost'], backends: [{ id: 'flaky.v1.web.1', host: '127.0.0.1', port: bport }] });
      const port = r.address()!.port;
      try {
        for (let i = 0; i < 3; i++) expect((await request(port, 'flaky.localhost')).status).to.equal(502);
        hangUp = false;
        for (let i = 0; i < 4; i++) expect((await request(port, 'flaky.localhost')).status).to.equal(200);
      } finally {
        await r.close();
        backend.closeAllConnections();
        await new Promise((ok) => backend.close(ok));
      }
    });

    it("honours a client's Connection: close, whatever the backend's own connection says", async () => {
      await router.setRoute({ app: 'closer', hosts: ['closer.localhost'], backends: [backendOf('closer', 1, 1, a)] });
      const res = await request(port, 'closer.localhost', { headers: { connection: 'close' } });
      expect(res.status).to.equal(200);
      expect(res.headers.connection).to.equal('close');
    });
  });

  describe('answers before the upload ended, bodiless answers, a GET with a body', () => {
    let r: BuiltinRouter;
    let backend: http.Server;
    let connections = 0;
    let ca: string;
    /** Announces 8 MB, sends 64 KB and stops: the answer's status and its Connection header. */
    const uploadUnfinished = (host: string, path: string) =>
      new Promise<{ status: number; connection?: string }>((resolve, reject) => {
        const req = http.request(
          {
            host: '127.0.0.1',
            port: r.address()!.port,
            method: 'POST',
            path,
            headers: { host, 'content-length': String(8 * 1024 * 1024) },
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
          },
        );
        req.on('error', () => undefined); // the upload is cut once the answer is in
        req.write(Buffer.alloc(64 * 1024));
        setTimeout(() => reject(new Error('no answer')), 5000).unref();
      });
    before(async () => {
      // 413 at once for /refuse without reading; a 304 naming a length it does not send; a counter of connections.
      backend = http.createServer((req, res) => {
        if (req.url === '/refuse') return void res.writeHead(413, { 'content-length': '8' }).end('too big\n');
        if (req.url === '/nocontent') return void res.writeHead(204).end();
        if (req.url === '/cached') return void res.writeHead(304, { 'content-length': '1234', etag: '"x"' }).end();
        req.resume();
        req.on('end', () => res.end('ok'));
      });
      backend.on('connection', () => connections++);
      await new Promise<void>((ok) => backend.listen(0, '127.0.0.1', ok));
      const bport = (backend.address() as net.AddressInfo).port;
      r = new BuiltinRouter();
      await r.listen(0, '127.0.0.1');
      await r.listenTls(0, '127.0.0.1');
      const pki = makePki();
      ca = fs.readFileSync(pki.root, 'utf8');
      const leaf = makeLeaf(pki, ['up.test']);
      await r.setRoute({
        app: 'up',
        hosts: ['up.localhost', 'up.test'],
        backends: [{ id: 'up.v1.web.1', host: '127.0.0.1', port: bport }],
      });
      await r.setCertificates([{ app: 'up', chain: leaf.fullchainPem, key: leaf.keyPem }]);
    });
    after(async () => {
      await r.close();
      backend.closeAllConnections();
      await new Promise((ok) => backend.close(ok));
    });

    it('an HTTP/1.1 upload answered early gets its answer and a closed connection; nothing stays in flight', async () => {
      const status = await uploadUnfinished('up.localhost', '/refuse');
      expect(status).to.deep.equal({ status: 413, connection: 'close' });
      await eventually(() => r.inFlightCount('up.v1.web.1') === 0, 'no request left in flight');
    });

    it('an HTTP/2 upload answered early gets its answer and its stream ends; nothing stays in flight', async () => {
      const session = http2.connect(`https://up.test:${r.tlsAddress()!.port}`, { ca, host: '127.0.0.1', servername: 'up.test' });
      session.on('error', () => undefined);
      try {
        const status = await new Promise<number>((resolve, reject) => {
          const req = session.request({ ':method': 'POST', ':path': '/refuse', 'content-length': String(8 * 1024 * 1024) });
          let got = 0;
          req.on('response', (h) => (got = Number(h[':status'])));
          req.on('error', () => undefined);
          req.resume();
          req.on('close', () => resolve(got));
          req.write(Buffer.alloc(64 * 1024));
          setTimeout(() => reject(new Error('the stream never ended')), 5000).unref();
        });
        expect(status).to.equal(413);
        await eventually(() => r.inFlightCount('up.v1.web.1') === 0, 'no request left in flight');
      } finally {
        session.destroy();
      }
    });

    it('relays a 304 that names a length it never sends', async () => {
      const res = await request(r.address()!.port, 'up.localhost', { path: '/cached' });
      expect(res.status).to.equal(304);
      expect(res.headers.etag).to.equal('"x"');
    });

    it('keeps the backend connection across 204 answers', async () => {
      await request(r.address()!.port, 'up.localhost');
      const before = connections;
      for (let i = 0; i < 5; i++) expect((await request(r.address()!.port, 'up.localhost', { path: '/nocontent' })).status).to.equal(204);
      expect(connections - before, 'new backend connections for five 204s').to.be.at.most(1);
    });

    it("the router's own 502 to an upload it did not read closes the connection; nothing stays in flight", async () => {
      await r.setRoute({
        app: 'gone',
        hosts: ['gone.localhost'],
        backends: [{ id: 'gone.v1.web.1', host: '127.0.0.1', port: await freePortOf() }],
      });
      const answer = await uploadUnfinished('gone.localhost', '/');
      expect(answer).to.deep.equal({ status: 502, connection: 'close' });
      await eventually(() => r.inFlightCount('gone.v1.web.1') === 0, 'no request left in flight');
    });

    it("a backend that ignores a GET's body never hands what the body says to another client's request", async () => {
      // Answers every request head it sees, and takes a body for the next request, as a naive server would.
      const naive = net.createServer((socket) => {
        socket.on('error', () => undefined);
        let seen = '';
        let queued: Promise<unknown> = Promise.resolve();
        socket.on('data', (d) => {
          seen += d.toString('latin1');
          for (let end = seen.indexOf('\r\n\r\n'); end >= 0; end = seen.indexOf('\r\n\r\n')) {
            const target = /^\w+ (\S+)/.exec(seen)?.[1] ?? '?';
            seen = seen.slice(end + 4);
            const body = `answer to ${target}`;
            // One answer at a time, a moment apart: a second one comes after the first was read.
            queued = queued.then(() => {
              socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
              return new Promise((ok) => setTimeout(ok, 30));
            });
          }
        });
      });
      await new Promise<void>((ok) => naive.listen(0, '127.0.0.1', ok));
      const nport = (naive.address() as net.AddressInfo).port;
      await r.setRoute({ app: 'naive', hosts: ['naive.localhost'], backends: [{ id: 'naive.v1.web.1', host: '127.0.0.1', port: nport }] });
      try {
        const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: naive.localhost\r\n\r\n';
        const attacker = await new Promise<string>((resolve, reject) => {
          const req = http.request(
            {
              host: '127.0.0.1',
              port: r.address()!.port,
              method: 'GET',
              path: '/a',
              agent: false,
              headers: { host: 'naive.localhost', 'content-length': String(smuggled.length) },
            },
            (res) => {
              let body = '';
              res.on('data', (c) => (body += c));
              res.on('end', () => resolve(body));
            },
          );
          req.on('error', reject);
          req.end(smuggled);
        });
        expect(attacker).to.equal('answer to /a');
        // At once: the smuggled request's answer is still on its way on that connection.
        const victim = await request(r.address()!.port, 'naive.localhost', { path: '/victim' });
        expect(victim.body).to.equal('answer to /victim');
      } finally {
        await r.removeRoute('naive');
        await new Promise((ok) => naive.close(ok));
      }
    });
  });
});
