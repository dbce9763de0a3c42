import { expect } from 'chai';
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { createHash } from 'node:crypto';
import { BuiltinRouter } from '../../src/router/builtin.js';
import { SlipwayError } from '../../src/errors.js';

interface Answer {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

/** A request with an explicit Host header (fetch refuses to set one). */
function request(port: number, host: string, opts: { path?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: opts.path ?? '/', agent: false, headers: { host, ...opts.headers } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

interface TestBackend {
  server: http.Server;
  port: number;
  /** Resolves when a request to /slow has arrived; call the function to let it finish. */
  slowArrived: Promise<() => void>;
}

/** A backend that answers with its name and the headers it received, echoes websocket bytes, and can hold /slow. */
async function startBackend(name: string): Promise<TestBackend> {
  let arrived!: (release: () => void) => void;
  const slowArrived = new Promise<() => void>((r) => (arrived = r));
  const server = http.createServer((req, res) => {
    const answer = () => res.end(JSON.stringify({ name, headers: req.headers }));
    if (req.url === '/slow') arrived(answer);
    else answer();
  });
  // A minimal websocket handshake by hand; after it, echo raw bytes back.
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex) => {
    const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nX-Backend: ${name}\r\n\r\n`);
    socket.on('data', (chunk: Buffer) => socket.write(Buffer.concat([Buffer.from(`${name}:`), chunk])));
    socket.on('end', () => socket.end());
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, port: (server.address() as net.AddressInfo).port, slowArrived };
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

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
    await router.setRoute({
      app: 'myapp',
      hosts: ['myapp.localhost', 'WWW.Example.COM'],
      backends: [
        { id: 'myapp.v1.web.1', host: '127.0.0.1', port: a.port },
        { id: 'myapp.v1.web.2', host: '127.0.0.1', port: b.port },
      ],
    });
  });

  after(async () => {
    await router.close();
    for (const backend of [a, b]) {
      backend.server.closeAllConnections();
      await new Promise((r) => backend.server.close(r));
    }
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
  });

  it('answers 502 when the backend refuses connections', async () => {
    await router.setRoute({ app: 'dead', hosts: ['dead.localhost'], backends: [{ id: 'dead.v1.web.1', host: '127.0.0.1', port: await freePort() }] });
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
      names.push(JSON.parse(res.body).name);
    }
    expect(names.filter((n) => n === 'a')).to.have.length(2);
    expect(names.filter((n) => n === 'b')).to.have.length(2);
  });

  it('adds X-Forwarded-* and X-Request-Id, keeping the Host header', async () => {
    const res = await request(port, `myapp.localhost:${port}`);
    const { headers } = JSON.parse(res.body) as { headers: http.IncomingHttpHeaders };
    expect(headers.host).to.equal(`myapp.localhost:${port}`);
    expect(headers['x-forwarded-for']).to.equal('127.0.0.1');
    expect(headers['x-forwarded-proto']).to.equal('http');
    expect(headers['x-forwarded-port']).to.equal(String(port));
    expect(headers['x-request-id']).to.match(/^[0-9a-f-]{36}$/);

    const chained = await request(port, 'myapp.localhost', { headers: { 'x-forwarded-for': '203.0.113.9', 'x-request-id': 'abc-123', 'x-forwarded-proto': 'https' } });
    const seen = (JSON.parse(chained.body) as { headers: http.IncomingHttpHeaders }).headers;
    expect(seen['x-forwarded-for']).to.equal('203.0.113.9, 127.0.0.1');
    expect(seen['x-request-id']).to.equal('abc-123');
    // Not trusted by default: a client cannot claim it came over https.
    expect(seen['x-forwarded-proto']).to.equal('http');
  });

  it('refuses to give one host to two apps', async () => {
    const err = await router.setRoute({ app: 'thief', hosts: ['myapp.localhost'], backends: [] }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(SlipwayError);
    expect((err as SlipwayError).code).to.equal('domain_in_use');
    expect(router.routes().map((r) => r.app)).to.not.include('thief');
  });

  it('passes websocket upgrades through', async () => {
    const socket = await new Promise<Duplex>((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1',
        port,
        agent: false,
        headers: { host: 'myapp.localhost', connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' },
      });
      req.on('upgrade', (res: http.IncomingMessage, sock: Duplex) => {
        expect(res.statusCode).to.equal(101);
        expect(res.headers['sec-websocket-accept']).to.equal('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
        resolve(sock);
      });
      req.on('response', (res) => reject(new Error(`expected an upgrade, got HTTP ${res.statusCode}`)));
      req.on('error', reject);
      req.end();
    });
    const echoed = new Promise<string>((r) => socket.once('data', (c: Buffer) => r(c.toString())));
    socket.write('ping');
    expect(await echoed).to.match(/^[ab]:ping$/);
    socket.destroy();
  });

  it('drain waits for a slow request in flight to the drained backend', async () => {
    await router.setRoute({ app: 'slowapp', hosts: ['slow.localhost'], backends: [{ id: 'slowapp.v1.web.1', host: '127.0.0.1', port: a.port }] });
    const pending = request(port, 'slow.localhost', { path: '/slow' });
    const release = await a.slowArrived;
    expect(router.inFlightCount('slowapp.v1.web.1')).to.equal(1);

    // The new release takes over; the old backend still owes one answer.
    await router.setRoute({ app: 'slowapp', hosts: ['slow.localhost'], backends: [{ id: 'slowapp.v2.web.1', host: '127.0.0.1', port: b.port }] });
    let drained = false;
    const draining = router.drain(['slowapp.v1.web.1'], 15_000).then(() => (drained = true));
    await new Promise((r) => setTimeout(r, 100));
    expect(drained).to.equal(false);

    release();
    await draining;
    expect((await pending).status).to.equal(200);
    expect(router.inFlightCount('slowapp.v1.web.1')).to.equal(0);
    expect(JSON.parse((await request(port, 'slow.localhost')).body).name).to.equal('b');
  });

  it('drain gives up after its timeout', async () => {
    await router.drain(['never.v1.web.1'], 10); // nothing in flight: resolves at once
    const stuck = router['inFlight'].begin('stuck.v1.web.1');
    await router.drain(['stuck.v1.web.1'], 50);
    stuck();
  });
});
