import { expect } from 'chai';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { SlipwayError } from '../../src/errors.js';
import type { AccessEntry, Route } from '../../src/router/engine.js';
import { NginxRouter } from '../../src/router/nginx.js';
import { readTitle } from '../../src/router/nginx-procs.js';
import { createRouter, describeRouter } from '../../src/router/select.js';
import {
  backendOf,
  echoOf,
  echoOver,
  nginxStateDir,
  openWebsocket,
  request,
  startBackend,
  stopBackend,
  type TestBackend,
} from './support.js';
import { requires } from '../support/requires.js';

// What only the nginx engine has; the behaviour both engines share is in engines.test.ts.
describe('NginxRouter', function () {
  this.timeout(30_000);
  requires('nginx');
  let stateDir: string;
  let router: NginxRouter;
  let port: number;
  let a: TestBackend;
  let b: TestBackend;
  /** The snippet the `broken` hook puts into myapp's server block; undefined = none. */
  let snippet: string | undefined;
  const logged: string[] = [];
  /** What nginx's access log reported: `requests.request(...)` calls and `onAccess` entries. */
  const counted: Array<{ app: string; method?: string; status: number }> = [];
  const accessed: AccessEntry[] = [];
  const myapp = (...backends: TestBackend[]): Route => ({
    app: 'myapp',
    hosts: ['myapp.localhost'],
    backends: backends.map((x, i) => backendOf('myapp', 1, i + 1, x)),
  });
  const liveFile = (app: string) => path.join(router.configDir, 'apps', `${app}.conf`);

  before(async () => {
    [a, b] = await Promise.all([startBackend('a'), startBackend('b')]);
    stateDir = nginxStateDir();
    router = new NginxRouter({
      stateDir,
      workerProcesses: 2,
      log: (m) => logged.push(m),
      appSnippet: (r) => (r.app === 'myapp' ? snippet : undefined),
      requests: { request: (app, method, status) => counted.push({ app, method, status }) },
    });
    router.onAccess = (entry) => accessed.push(entry);
    await router.listen(0, '127.0.0.1');
    port = router.address()!.port;
    await router.setRoute(myapp(a));
  });

  after(async () => {
    await router?.close();
    for (const backend of [a, b]) if (backend) await stopBackend(backend);
    if (stateDir) fs.rmSync(stateDir, { recursive: true, force: true });
  });

  afterEach(() => {
    snippet = undefined;
  });

  it('writes one config file per app from the route, and removes it with the route', async () => {
    const text = fs.readFileSync(liveFile('myapp'), 'utf8');
    expect(text).to.include('server_name myapp.localhost;');
    expect(text).to.include(`server 127.0.0.1:${a.port};  # myapp.v1.web.1`);
    expect(text).to.match(/keepalive \d+;/);
    expect(text).to.include('proxy_http_version 1.1;');
    await router.setRoute({ app: 'other', hosts: ['other.localhost'], backends: [] });
    expect(fs.readFileSync(liveFile('other'), 'utf8')).to.include('return 502');
    await router.removeRoute('other');
    expect(fs.existsSync(liveFile('other'))).to.equal(false);
    expect(fs.readdirSync(path.join(stateDir, 'live', 'apps'))).to.deep.equal(['myapp.conf']);
  });

  it('refuses a config nginx -t rejects, and the old config keeps serving', async () => {
    const before = fs.readFileSync(liveFile('myapp'), 'utf8');
    snippet = 'bogus_directive on;';
    const err = await router.setRoute(myapp(b)).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(SlipwayError);
    expect((err as SlipwayError).code).to.equal('router_config_rejected');
    expect((err as SlipwayError).message)
      .to.include('for myapp')
      .and.include('unknown directive "bogus_directive" in apps/myapp.conf:');
    expect(fs.readFileSync(liveFile('myapp'), 'utf8')).to.equal(before);
    expect(fs.existsSync(path.join(stateDir, 'candidate'))).to.equal(false);
    expect(
      router
        .routes()
        .find((r) => r.app === 'myapp')!
        .backends.map((x) => x.port),
    ).to.deep.equal([a.port]);
    for (let i = 0; i < 4; i++) expect(echoOf(await request(port, 'myapp.localhost')).name).to.equal('a');

    snippet = undefined;
    await router.setRoute(myapp(b));
    expect(echoOf(await request(port, 'myapp.localhost')).name).to.equal('b');
    await router.setRoute(myapp(a));
  });

  it('undoes a reload nginx cannot apply (the new config passes -t but cannot bind)', async () => {
    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
    try {
      const before = fs.readFileSync(liveFile('myapp'), 'utf8');
      // `nginx -t` tolerates a port in use (the live nginx holds its own); the reload then fails to bind it.
      snippet = `listen 127.0.0.1:${(busy.address() as net.AddressInfo).port};`;
      const err = await router.setRoute(myapp(b)).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(SlipwayError);
      expect((err as SlipwayError).code).to.equal('router_reload_failed');
      expect((err as SlipwayError).message).to.include('Address already in use');
      expect(fs.readFileSync(liveFile('myapp'), 'utf8')).to.equal(before);
      expect(echoOf(await request(port, 'myapp.localhost')).name).to.equal('a');
    } finally {
      await new Promise((r) => busy.close(r));
    }
    snippet = undefined;
    await router.setRoute(myapp(b));
    expect(echoOf(await request(port, 'myapp.localhost')).name).to.equal('b');
    await router.setRoute(myapp(a));
  });

  it('refuses anything that is not a plain host name, app name or port before nginx sees it', async () => {
    const bad: Route[] = [
      { app: 'evil', hosts: ['evil.localhost; return 200 x'], backends: [] },
      { app: 'evil', hosts: ['a b.localhost'], backends: [] },
      { app: 'evil', hosts: ['*.example.com'], backends: [] },
      { app: 'evil', hosts: ['~^(.*)$'], backends: [] },
      { app: 'evil', hosts: ['x.localhost}'], backends: [] },
      { app: 'evil', hosts: ['generation.slipway.invalid'], backends: [] },
      { app: 'Evil;', hosts: ['evil.localhost'], backends: [] },
      { app: 'evil', hosts: ['evil.localhost'], backends: [{ id: 'evil.v1.web.1', host: '127.0.0.1', port: 0 }] },
      { app: 'evil', hosts: ['evil.localhost'], backends: [{ id: 'evil.v1.web.1', host: '127.0.0.1;', port: 80 }] },
      { app: 'evil', hosts: ['evil.localhost'], backends: [{ id: 'evil\nserver 10.0.0.1:80;', host: '127.0.0.1', port: 80 }] },
    ];
    for (const route of bad) {
      const err = await router.setRoute(route).catch((e: unknown) => e);
      expect(err, JSON.stringify(route)).to.be.instanceOf(SlipwayError);
      expect((err as SlipwayError).code, JSON.stringify(route)).to.equal('invalid_route');
    }
    expect(router.routes().map((r) => r.app)).to.deep.equal(['myapp']);
    expect(fs.readdirSync(path.join(stateDir, 'live', 'apps'))).to.deep.equal(['myapp.conf']);
  });

  it('keeps an open websocket working across a reload', async () => {
    const socket = await openWebsocket(port, 'myapp.localhost');
    expect(await echoOver(socket, 'one')).to.equal('a:one');
    await router.setRoute({ app: 'other', hosts: ['other.localhost'], backends: [backendOf('other', 1, 1, b)] });
    expect(await echoOver(socket, 'two')).to.equal('a:two');
    socket.destroy();
    await router.removeRoute('other');
  });

  it('drain is not held up by another app’s open websocket', async () => {
    // The websocket keeps an old-generation worker alive across the switch below.
    const socket = await openWebsocket(port, 'myapp.localhost');
    await router.setRoute({ app: 'other', hosts: ['other.localhost'], backends: [backendOf('other', 1, 1, b)] });
    expect(echoOf(await request(port, 'other.localhost')).name).to.equal('b');
    await router.setRoute({ app: 'other', hosts: ['other.localhost'], backends: [] });
    // A timeout far beyond the test's own: the drain must end because nothing is in flight, not by giving up.
    await router.drain(['other.v1.web.1'], 3_600_000);
    expect(await echoOver(socket, 'still')).to.equal('a:still');
    socket.destroy();
    await router.removeRoute('other');
  });

  it('stops a master left behind by an earlier run on the same state dir', async () => {
    const dir = nginxStateDir();
    const first = new NginxRouter({ stateDir: dir, workerProcesses: 1 });
    const second = new NginxRouter({ stateDir: dir, workerProcesses: 1 });
    try {
      await first.listen(0, '127.0.0.1');
      const orphan = first.masterPid!;
      // As if Slipway had died without closing: the new one must free the port itself.
      await second.listen(first.address()!.port, '127.0.0.1');
      expect(readTitle(orphan)).to.equal('');
      await second.setRoute({ app: 'myapp', hosts: ['myapp.localhost'], backends: [backendOf('myapp', 1, 1, b)] });
      expect(echoOf(await request(second.address()!.port, 'myapp.localhost')).name).to.equal('b');
    } finally {
      await first.close();
      await second.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('close() stops nginx and frees the port', async () => {
    const dir = nginxStateDir();
    const r = new NginxRouter({ stateDir: dir, workerProcesses: 1 });
    try {
      await r.listen(0, '127.0.0.1');
      const pid = r.masterPid!;
      const p = r.address()!.port;
      expect((await request(p, 'nope.localhost')).status).to.equal(404);
      await r.close();
      expect(readTitle(pid)).to.equal('');
      expect(r.masterPid).to.equal(undefined);
      await new Promise<void>((resolve, reject) => {
        const s = net.createServer().once('error', reject);
        s.listen(p, '127.0.0.1', () => s.close(() => resolve()));
      });
    } finally {
      await r.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails listen with one line naming the address when the port is taken', async () => {
    const dir = nginxStateDir();
    const r = new NginxRouter({ stateDir: dir, workerProcesses: 1 });
    try {
      const err = await r.listen(port, '127.0.0.1').catch((e: unknown) => e);
      expect(err).to.be.instanceOf(SlipwayError);
      expect((err as SlipwayError).code).to.equal('bind_failed');
      expect((err as SlipwayError).message).to.equal(
        `cannot listen on 127.0.0.1:${port} for the router: another program is listening there (EADDRINUSE)`,
      );
    } finally {
      await r.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says how to install nginx when it is missing', () => {
    for (const make of [
      () => new NginxRouter({ stateDir: '/nonexistent', nginxBin: '/nonexistent/nginx' }),
      () => createRouter({ kind: 'nginx', home: '/nonexistent', log: () => undefined, nginxBin: '/nonexistent/nginx' }),
    ]) {
      const err = (() => {
        try {
          make();
        } catch (e) {
          return e;
        }
      })();
      expect(err).to.be.instanceOf(SlipwayError);
      expect((err as SlipwayError).code).to.equal('nginx_missing');
      expect((err as SlipwayError).message).to.include('apt-get install nginx');
    }
  });

  async function until(ok: () => boolean, what: string): Promise<void> {
    for (let i = 0; !ok(); i++) {
      if (i > 1000) throw new Error(`timed out waiting for: ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Polls until `n` requests were counted (nginx logs once a request is over, and writes its buffer within a second). */
  async function countedAtLeast(n: number): Promise<void> {
    for (let i = 0; counted.length < n; i++) {
      if (i > 500) throw new Error(`only ${counted.length} of ${n} requests counted: ${JSON.stringify(counted)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  it('counts app requests from nginx’s access log and reports the answers apps gave', async () => {
    await router.setRoute({ app: 'down', hosts: ['down.localhost'], backends: [] });
    counted.length = 0;
    accessed.length = 0;
    expect((await request(port, 'myapp.localhost', { path: '/hello?x=1' })).status).to.equal(200);
    expect((await request(port, 'nobody.localhost')).status).to.equal(404);
    expect((await request(port, 'down.localhost')).status).to.equal(502);
    // A websocket is not a request here, as with the built-in engine (nginx logs it as 101 when it closes).
    const socket = await openWebsocket(port, 'myapp.localhost');
    expect(await echoOver(socket, 'ws')).to.equal('a:ws');
    socket.destroy();
    expect((await request(port, 'myapp.localhost', { path: '/after' })).status).to.equal(200);
    await countedAtLeast(3);
    await router.removeRoute('down');
    expect(counted).to.have.deep.members([
      { app: 'myapp', method: 'GET', status: 200 },
      { app: 'down', method: 'GET', status: 502 },
      { app: 'myapp', method: 'GET', status: 200 },
    ]);
    // Only the answers the app gave go to the drains, as with the built-in engine.
    expect(accessed).to.have.length(2);
    expect(accessed[0]).to.include({ app: 'myapp', method: 'GET', path: '/hello?x=1', host: 'myapp.localhost', status: 200 });
    expect(accessed[0]).to.include({ fwd: '127.0.0.1', protocol: 'http' });
    expect(logged.join('\n')).not.to.include('uninitialized');
  });

  it('ignores lines in the access file that are not our nginx’s', async () => {
    const accessFile = path.join(stateDir, 'access.log');
    expect(fs.readFileSync(liveFile('myapp'), 'utf8')).to.match(/access_log access\.log slipway_access buffer=64k flush=1s;/);
    counted.length = 0;
    accessed.length = 0;
    // A line as nginx writes them, but without the router's token; and a client's tab or newline cannot make one.
    const forged = ['guess', 'myapp', '1', 'GET', '200', '0.001', 'myapp.localhost', '/', '127.0.0.1', '2', 'http'].join('\t');
    fs.appendFileSync(accessFile, ['\xff\x00{', forged, `${forged.slice(0, 20)}`, '-', '{'.repeat(60_000), ''].join('\n'));
    expect((await request(port, 'myapp.localhost', { path: '/a%09b/"q"\\' })).status).to.equal(200);
    await countedAtLeast(1);
    expect(counted).to.deep.equal([{ app: 'myapp', method: 'GET', status: 200 }]);
    expect(accessed).to.have.length(1);
    expect(accessed[0]!.path).to.equal('/a%09b/"q"\\');
  });

  it('rotates the access file without losing a line, and starts a new one after a restart', async () => {
    const dir = nginxStateDir();
    const seen: string[] = [];
    const small = new NginxRouter({
      stateDir: dir,
      workerProcesses: 1,
      accessRotateBytes: 2048,
      requests: { request: (app) => seen.push(app) },
    });
    try {
      await small.listen(0, '127.0.0.1');
      await small.setRoute(myapp(a));
      const at = small.address()!.port;
      const inode = () => fs.statSync(path.join(dir, 'access.log')).ino;
      const first = inode();
      const sent = 60;
      for (let i = 0; i < sent; i++) expect((await request(at, 'myapp.localhost', { path: `/r${i}` })).status).to.equal(200);
      await until(() => seen.length >= sent, 'every request counted across rotations');
      // Renamed-away files go once the workers that wrote them are gone.
      const accessFiles = () => fs.readdirSync(dir).filter((f) => f.startsWith('access.log'));
      await until(() => accessFiles().join() === 'access.log', 'old access files deleted');
      expect(seen.length).to.equal(sent);
      expect(inode()).not.to.equal(first);
      // Clients' addresses and query strings: for root only, the rotated file too.
      expect(fs.statSync(path.join(dir, 'access.log')).mode & 0o777).to.equal(0o600);
      // A new daemon (a new engine on the same state dir) starts a fresh file and counts only its own requests.
      await small.close();
      seen.length = 0;
      await small.listen(0, '127.0.0.1');
      await small.setRoute(myapp(a));
      expect((await request(small.address()!.port, 'myapp.localhost')).status).to.equal(200);
      await until(() => seen.length >= 1, 'the request after the restart counted');
      expect(seen).to.deep.equal(['myapp']);
    } finally {
      await small.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('picks the engine by name', () => {
    expect(createRouter({ kind: 'builtin', home: stateDir, log: () => undefined }).name).to.equal('builtin');
    expect(createRouter({ kind: 'nginx', home: stateDir, log: () => undefined }).name).to.equal('nginx');
    // auto: nginx when it is installed (it is, for this suite), the built-in router when it cannot be found.
    expect(createRouter({ kind: 'auto', home: stateDir, log: () => undefined }).name).to.equal('nginx');
    const missing = path.join(stateDir, 'no-nginx-here');
    expect(createRouter({ kind: 'auto', home: stateDir, nginxBin: missing, log: () => undefined }).name).to.equal('builtin');
    expect(describeRouter('builtin', 'auto')).to.equal('built-in (Node)   (--router auto: no nginx installed)');
    expect(describeRouter('nginx', 'nginx')).to.equal('nginx');
    expect(() => createRouter({ kind: 'traefik' as never, home: stateDir, log: () => undefined })).to.throw(
      /unknown router engine "traefik"/,
    );
  });
});
