import { expect } from 'chai';
import fs from 'node:fs';
import net from 'node:net';
import http2 from 'node:http2';
import https from 'node:https';
import { BuiltinRouter } from '../../src/router/builtin.js';
import { makeLeaf, makePki } from '../tls/pki.js';

/** A backend that answers each path with a fixed raw HTTP/1.1 response, as a misbehaving app could. */
const RAW: Record<string, string> = {
  '/upgrade':
    'HTTP/1.1 200 OK\r\nUpgrade: h2,h2c\r\nConnection: Upgrade, X-Foo\r\nX-Foo: 1\r\nKeep-Alive: timeout=5\r\n' +
    'Proxy-Connection: keep-alive\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\nTE: gzip\r\nX-Kept: yes\r\nContent-Length: 5\r\n\r\nhello',
  '/chunked': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  '/status600': 'HTTP/1.1 600 Odd\r\nContent-Length: 3\r\n\r\nodd',
};

describe('router engine builtin: HTTP/2 clients and what a backend answers', function () {
  this.timeout(30_000);
  let router: BuiltinRouter;
  let backend: net.Server;
  let ca: string;
  let port: number;
  const logs: string[] = [];

  before(async () => {
    const pki = makePki();
    ca = fs.readFileSync(pki.root, 'utf8');
    backend = net.createServer((socket) => {
      let seen = '';
      socket.on('error', () => undefined);
      socket.on('data', (d: Buffer) => {
        seen += d.toString('latin1');
        const end = seen.indexOf('\r\n\r\n');
        if (end < 0) return;
        const path = seen.split(' ')[1] ?? '/';
        seen = seen.slice(end + 4);
        // A long poll: silent for longer than the router's idle timeout (600 ms here).
        if (path === '/slow') setTimeout(() => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlate'), 1500);
        else socket.write(RAW[path] ?? 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      });
    });
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
    router = new BuiltinRouter({ log: (m) => logs.push(m), keepAliveTimeoutMs: 300, tlsIdleTimeoutMs: 600 });
    await router.listen(0, '127.0.0.1');
    await router.listenTls(0, '127.0.0.1');
    port = router.tlsAddress()!.port;
    const bport = (backend.address() as net.AddressInfo).port;
    await router.setRoute({ app: 'odd', hosts: ['odd.test'], backends: [{ id: 'odd.v1.web.1', host: '127.0.0.1', port: bport }] });
    const leaf = makeLeaf(pki, ['odd.test']);
    await router.setCertificates([{ app: 'odd', chain: leaf.fullchainPem, key: leaf.keyPem }]);
  });

  after(async () => {
    await router?.close();
    await new Promise<void>((r) => (backend ? backend.close(() => r()) : r()));
  });

  /** One HTTP/2 request on a fresh session: the status, the headers and the body the client got. */
  const h2get = (path: string) =>
    new Promise<{ status: number; headers: http2.IncomingHttpHeaders; body: string }>((resolve, reject) => {
      const session = http2.connect(`https://odd.test:${port}`, { ca, host: '127.0.0.1', servername: 'odd.test' });
      session.on('error', reject);
      const req = session.request({ ':path': path });
      let headers: http2.IncomingHttpHeaders = {};
      let body = '';
      req.on('response', (h) => (headers = h));
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        session.close();
        resolve({ status: Number(headers[':status']), headers, body });
      });
      req.on('error', (e) => {
        session.destroy();
        reject(e);
      });
      req.end();
    });

  it('strips connection-specific headers (and those Connection names) from the answer, and serves the next request', async () => {
    const res = await h2get('/upgrade');
    expect(res.status).to.equal(200);
    expect(res.body).to.equal('hello');
    expect(res.headers['x-kept']).to.equal('yes');
    for (const name of ['upgrade', 'connection', 'x-foo', 'keep-alive', 'proxy-connection', 'http2-settings', 'te'])
      expect(res.headers, name).to.not.have.property(name);
    const chunked = await h2get('/chunked');
    expect(chunked.status).to.equal(200);
    expect(chunked.body).to.equal('hello');
    expect((await h2get('/')).body).to.equal('ok');
  });

  it('answers 502 for a status HTTP/2 cannot carry, and serves the next request', async () => {
    const res = await h2get('/status600');
    expect(res.status).to.equal(502);
    expect(res.body).to.equal('odd answered with status 600, which is not a valid HTTP status\n');
    expect((await h2get('/')).body).to.equal('ok');
  });

  it('closes a kept-alive HTTP/1.1 connection after keepAliveTimeout, and an idle HTTP/2 session after the idle timeout', async () => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    const closed = await new Promise<string>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port, servername: 'odd.test', ca, agent, headers: { host: 'odd.test' } }, (res) => {
        res.resume();
      });
      // The agent keeps the socket open for the next request: only the server can close it.
      req.on('socket', (socket) => socket.once('close', () => resolve('closed by the server')));
      req.on('error', reject);
      req.end();
    });
    agent.destroy();
    expect(closed).to.equal('closed by the server');
    const session = http2.connect(`https://odd.test:${port}`, { ca, host: '127.0.0.1', servername: 'odd.test' });
    session.on('error', () => undefined);
    const goaway = new Promise<string>((resolve) => session.once('close', () => resolve('session closed')));
    await new Promise<void>((resolve, reject) => {
      const req = session.request({ ':path': '/' });
      req.on('error', reject);
      req.resume();
      req.on('end', () => resolve());
      req.end();
    });
    expect(await goaway).to.equal('session closed');
  });

  it('keeps a request in flight past the idle timeout (a long poll is not idle), over HTTP/2 and HTTP/1.1', async () => {
    expect((await h2get('/slow')).body).to.equal('late');
    const body = await new Promise<string>((resolve, reject) => {
      const req = https.request(
        { host: '127.0.0.1', port, servername: 'odd.test', ca, agent: false, path: '/slow', headers: { host: 'odd.test' } },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve(text));
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(body).to.equal('late');
  });
});
