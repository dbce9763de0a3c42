import { requires, type Need } from '../support/requires.js';
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import http2 from 'node:http2';
import plainHttp from 'node:http';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { createHash } from 'node:crypto';
import { BuiltinRouter } from '../../src/router/builtin.js';
import type { AcmeChallenge, AppCertificate } from '../../src/router/engine.js';
import { NginxRouter } from '../../src/router/nginx.js';
import type { RouterEngine as Router } from '../../src/router/engine.js';
import { makeLeaf, makePki, type Leaf, type Pki } from '../tls/pki.js';
import { backendOf, echoOf, nginxStateDir, request, startBackend, stopBackend, type Echo, type TestBackend } from './support.js';

type TlsRouter = Router & {
  address(): { host: string; port: number } | undefined;
  setChallenges(challenges: AcmeChallenge[]): Promise<void>;
  listenTls(port: number, hosts?: string | string[]): Promise<void>;
  setCertificates(certs: AppCertificate[]): Promise<void>;
  tlsAddress(): { host: string; port: number } | undefined;
};

/** TLS termination, one behaviour for both engines (as engines.test.ts for plain HTTP). */
const ENGINES: Array<{ name: string; start(): Promise<TlsRouter>; stateDir?: string; needs?: Need[] }> = [
  {
    name: 'builtin',
    start: async () => {
      const router = new BuiltinRouter();
      await router.listen(0, '127.0.0.1');
      return router;
    },
  },
  {
    name: 'nginx',
    needs: ['nginx'],
    async start() {
      this.stateDir = nginxStateDir();
      const router = new NginxRouter({ stateDir: this.stateDir, workerProcesses: 2 });
      await router.listen(0, '127.0.0.1');
      return router;
    },
  },
];

interface TlsAnswer {
  status: number;
  body: string;
  /** SHA-256 fingerprint of the certificate the router presented. */
  fingerprint: string;
  alpn: string | false | null;
  headers: Record<string, string | string[] | undefined>;
}

const fingerprintOf = (pem: string) => {
  const der = Buffer.from(pem.split('-----')[2]!.replace(/\s+/g, ''), 'base64');
  return createHash('sha256').update(der).digest('hex').toUpperCase().match(/../g)!.join(':');
};

for (const engine of ENGINES)
  describe(`router engine ${engine.name}: TLS by SNI, ACME challenges`, function () {
    requires(...(engine.needs ?? []));
    this.timeout(60_000);
    let pki: Pki;
    let ca: string;
    let router: TlsRouter;
    let port: number;
    let a: TestBackend;
    let b: TestBackend;
    let alphaCert: Leaf;

    /** An HTTPS request to the router for `servername`, trusting only the test root; `host` defaults to the same name. */
    const get = (servername: string, opts: { host?: string; agent?: https.Agent } = {}): Promise<TlsAnswer> =>
      new Promise((resolve, reject) => {
        const req = https.request(
          { host: '127.0.0.1', port, servername, ca, agent: opts.agent ?? false, headers: { host: opts.host ?? servername } },
          (res) => {
            const socket = res.socket as TLSSocket;
            const fingerprint = socket.getPeerCertificate().fingerprint256;
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (c: string) => (body += c));
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, body, fingerprint, alpn: socket.alpnProtocol, headers: res.headers }),
            );
          },
        );
        req.on('error', reject);
        req.end();
      });

    before(async () => {
      pki = makePki();
      ca = fs.readFileSync(pki.root, 'utf8');
      [a, b] = await Promise.all([startBackend('alpha'), startBackend('beta')]);
      router = await engine.start();
      await router.listenTls(0, '127.0.0.1');
      port = router.tlsAddress()!.port;
      await router.setRoute({ app: 'alpha', hosts: ['alpha.localhost', 'www.alpha.test'], backends: [backendOf('alpha', 1, 1, a)] });
      await router.setRoute({ app: 'beta', hosts: ['beta.localhost', 'www.beta.test'], backends: [backendOf('beta', 1, 1, b)] });
      // alpha's certificate also names beta's domain: it must still never be offered for it.
      alphaCert = makeLeaf(pki, ['www.alpha.test', 'www.beta.test']);
      await router.setCertificates([{ app: 'alpha', chain: alphaCert.fullchainPem, key: alphaCert.keyPem }]);
    });

    after(async () => {
      await router?.close();
      for (const backend of [a, b]) if (backend) await stopBackend(backend);
      if (engine.stateDir) fs.rmSync(engine.stateDir, { recursive: true, force: true });
    });

    /** The handshake's outcome for `servername`: served, or refused. */
    const handshake = (servername: string) =>
      get(servername).then(
        () => 'served',
        () => 'refused',
      );

    it("serves an app's domain with its certificate, telling the app the request came over https", async () => {
      const res = await get('www.alpha.test');
      expect(res.status).to.equal(200);
      const echo = JSON.parse(res.body) as Echo;
      expect(echo.name).to.equal('alpha');
      expect(echo.headers['x-forwarded-proto']).to.equal('https');
      expect(echo.headers['x-forwarded-port']).to.equal(String(port));
      expect(res.fingerprint).to.equal(fingerprintOf(alphaCert.certPem));
      expect(await handshake('alpha.localhost'), 'a host the certificate does not cover').to.equal('refused');
    });

    it("fails the handshake for another app's domain the certificate names, for a host without one, and without SNI", async () => {
      for (const name of ['www.beta.test', 'beta.localhost', 'nothing.test', '']) {
        const err = await get(name, { host: 'www.alpha.test' }).then(
          () => undefined,
          (e: Error) => e,
        );
        expect(err, name).to.be.instanceOf(Error);
        expect((err as NodeJS.ErrnoException).code, name).to.match(/ERR_SSL|ECONNRESET|EPROTO/);
      }
    });

    it('takes a server name in another case (or with a trailing dot) for the host it names', async () => {
      for (const name of ['WWW.Alpha.TEST', 'www.alpha.test.']) {
        const res = await get(name, { host: 'www.alpha.test' });
        expect(res.status, name).to.equal(200);
        expect((JSON.parse(res.body) as Echo).name, name).to.equal('alpha');
      }
    });

    it('answers 421 when a request asks for another host than the one its connection was made for', async () => {
      const res = await get('www.alpha.test', { host: 'www.beta.test' });
      expect(res.status).to.equal(421);
      expect(res.body).to.equal('This connection is for www.alpha.test, not www.beta.test\n');
    });

    it('carries websockets over TLS (HTTP/1.1 upgrade)', async () => {
      const socket = await new Promise<TLSSocket>((resolve, reject) => {
        const req = https.request({
          host: '127.0.0.1',
          port,
          servername: 'www.alpha.test',
          ca,
          agent: false,
          headers: {
            host: 'www.alpha.test',
            connection: 'Upgrade',
            upgrade: 'websocket',
            'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
            'sec-websocket-version': '13',
          },
        });
        req.on('upgrade', (res, sock) => {
          expect(res.headers['x-backend']).to.equal('alpha');
          resolve(sock as TLSSocket);
        });
        req.on('response', (res) => reject(new Error(`expected an upgrade, got HTTP ${res.statusCode}`)));
        req.on('error', reject);
        req.end();
      });
      const echoed = new Promise<string>((resolve) => socket.once('data', (d: Buffer) => resolve(d.toString())));
      socket.write('ping over tls');
      expect(await echoed).to.equal('alpha:ping over tls');
      socket.destroy();
    });

    it('speaks HTTP/2 to clients that offer it (ALPN), with the same routing and headers', async () => {
      const session = http2.connect(`https://www.alpha.test:${port}`, { ca, host: '127.0.0.1', servername: 'www.alpha.test' });
      try {
        const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = session.request({ ':path': '/' });
          let status = 0;
          let body = '';
          req.on('response', (h) => (status = Number(h[':status'])));
          req.setEncoding('utf8');
          req.on('data', (c: string) => (body += c));
          req.on('end', () => resolve({ status, body }));
          req.on('error', reject);
          req.end();
        });
        expect(status).to.equal(200);
        const echo = JSON.parse(body) as Echo;
        expect(echo.name).to.equal('alpha');
        expect(echo.headers['x-forwarded-proto']).to.equal('https');
        expect(echo.headers.host).to.equal(`www.alpha.test:${port}`);
        // An HTTP/2 stream ends its in-flight count like an HTTP/1.1 response, or drains would wait for their timeout.
        await new Promise((r) => setImmediate(r));
        if (router instanceof BuiltinRouter) expect(router.inFlightCount('alpha.v1.web.1')).to.equal(0);
      } finally {
        session.close();
      }
    });

    it('swaps certificates with no failed request: new handshakes get the new one', async () => {
      const before = await get('www.alpha.test');
      expect(before.fingerprint).to.equal(fingerprintOf(alphaCert.certPem));
      const renewed = makeLeaf(pki, ['www.alpha.test']);
      const failures: string[] = [];
      let stop = false;
      const loop = async () => {
        while (!stop) {
          await get('www.alpha.test').then(
            (r) => void (r.status !== 200 && failures.push(`HTTP ${r.status}`)),
            (e: Error) => void failures.push(e.message),
          );
        }
      };
      const loops = [loop(), loop()];
      await router.setCertificates([{ app: 'alpha', chain: renewed.fullchainPem, key: renewed.keyPem }]);
      stop = true;
      await Promise.all(loops);
      expect(failures).to.deep.equal([]);
      expect((await get('www.alpha.test')).fingerprint).to.equal(fingerprintOf(renewed.certPem));
      alphaCert = renewed;
    });

    if (engine.name === 'builtin') {
      it('keeps an open connection through a certificate swap (built-in engine: no reload at all)', async () => {
        const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
        try {
          const before = await get('www.alpha.test', { agent });
          const renewed = makeLeaf(pki, ['www.alpha.test']);
          await router.setCertificates([{ app: 'alpha', chain: renewed.fullchainPem, key: renewed.keyPem }]);
          const again = await get('www.alpha.test', { agent });
          expect(again.status).to.equal(200);
          expect(again.fingerprint).to.equal(before.fingerprint);
          expect((await get('www.alpha.test')).fingerprint).to.equal(fingerprintOf(renewed.certPem));
          alphaCert = renewed;
        } finally {
          agent.destroy();
        }
      });
    }

    if (engine.name === 'nginx') {
      it('keeps certificate files readable by the server only, and deletes those no certificate uses', async () => {
        const dir = path.join(engine.stateDir!, 'certs');
        const files = () => fs.readdirSync(dir);
        expect(files()).to.have.length(1);
        expect(fs.statSync(path.join(dir, files()[0]!)).mode & 0o777).to.equal(0o600);
        const other = makeLeaf(pki, ['www.alpha.test']);
        await router.setCertificates([{ app: 'alpha', chain: other.fullchainPem, key: other.keyPem }]);
        expect(files()).to.have.length(1);
        expect(fs.readFileSync(path.join(dir, files()[0]!), 'utf8')).to.contain(other.keyPem.trim());
        alphaCert = other;
      });
    }

    it('answers ACME HTTP-01 challenges itself, for their own host only, before the app; anything else under the path reaches the app', async () => {
      const plain = router.address()!.port;
      const token = 'tok_' + 'x'.repeat(30);
      const other = 'tok-' + 'y'.repeat(30);
      const keyAuth = (t: string) => `${t}.${'K'.repeat(43)}`;
      await router.setChallenges([
        { host: 'WWW.Alpha.test', token, keyAuthorization: keyAuth(token) },
        { host: 'not-routed-yet.test', token: other, keyAuthorization: keyAuth(other) },
      ]);
      const at = (host: string, t: string) => request(plain, host, { path: `/.well-known/acme-challenge/${t}` });
      const answered = await at('www.alpha.test', token);
      expect(answered.status).to.equal(200);
      expect(answered.body).to.equal(keyAuth(token));
      expect((await at('not-routed-yet.test', other)).body).to.equal(keyAuth(other));
      // Another app's host with the same token, and another token on the challenge's host, go to the apps.
      expect(echoOf(await at('www.beta.test', token)).name).to.equal('beta');
      expect(echoOf(await at('www.alpha.test', other)).name).to.equal('alpha');
      expect((await at('not-routed-yet.test', token)).status).to.equal(404);
      // A malformed challenge is refused whole: what is served stays as it was.
      const bad = await router.setChallenges([{ host: 'www.alpha.test', token: 'a"; return 200 x', keyAuthorization: 'x' }]).then(
        () => 'taken',
        (e: Error) => e.message,
      );
      expect(bad).to.match(/invalid ACME challenge/);
      expect((await at('www.alpha.test', token)).body).to.equal(keyAuth(token));
      await router.setChallenges([]);
      expect(echoOf(await at('www.alpha.test', token)).name).to.equal('alpha');
      expect((await at('not-routed-yet.test', other)).status).to.equal(404);
    });

    it('tls.redirect answers plain HTTP for the covered hosts with 308 to https (ACME challenges exempt); tls.hsts adds Strict-Transport-Security to HTTPS answers', async () => {
      const plain = router.address()!.port;
      await router.setCertificates([
        { app: 'alpha', chain: alphaCert.fullchainPem, key: alphaCert.keyPem, redirect: true, hstsMaxAge: 600 },
      ]);
      const moved = await request(plain, 'www.alpha.test', { path: '/a/b?c=1' });
      expect(moved.status).to.equal(308);
      expect(moved.headers.location).to.equal(`https://www.alpha.test:${port}/a/b?c=1`);
      expect(echoOf(await request(plain, 'alpha.localhost')).name, 'a host the certificate does not cover').to.equal('alpha');
      // A websocket asked for over plain HTTP is redirected too, or tls.redirect would leave it in clear.
      const upgrade = await new Promise<{ status: number; location?: string }>((resolve, reject) => {
        const req = plainHttp.request({
          host: '127.0.0.1',
          port: plain,
          path: '/ws?x=1',
          agent: false,
          headers: {
            host: 'www.alpha.test',
            connection: 'Upgrade',
            upgrade: 'websocket',
            'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
            'sec-websocket-version': '13',
          },
        });
        req.on('upgrade', (_res, sock) => {
          sock.destroy();
          resolve({ status: 101 });
        });
        req.on('response', (res) => {
          res.resume();
          resolve({ status: res.statusCode ?? 0, location: res.headers.location });
        });
        req.on('error', reject);
        req.end();
      });
      expect(upgrade).to.deep.equal({ status: 308, location: `https://www.alpha.test:${port}/ws?x=1` });
      const token = 'redirect-exempt-' + 'z'.repeat(20);
      await router.setChallenges([{ host: 'www.alpha.test', token, keyAuthorization: `${token}.${'K'.repeat(43)}` }]);
      expect((await request(plain, 'www.alpha.test', { path: `/.well-known/acme-challenge/${token}` })).body).to.equal(
        `${token}.${'K'.repeat(43)}`,
      );
      await router.setChallenges([]);
      const secure = await get('www.alpha.test');
      expect(secure.status).to.equal(200);
      expect(secure.headers['strict-transport-security']).to.equal('max-age=600');
      // Never over plain HTTP (browsers ignore it there, and it would claim HTTPS where there is none).
      expect((await request(plain, 'alpha.localhost')).headers).to.not.have.property('strict-transport-security');
      await router.setCertificates([{ app: 'alpha', chain: alphaCert.fullchainPem, key: alphaCert.keyPem }]);
      expect(echoOf(await request(plain, 'www.alpha.test')).name).to.equal('alpha');
      expect((await get('www.alpha.test')).headers).to.not.have.property('strict-transport-security');
    });

    it('stops serving TLS for a host when its certificate or its route goes, and for a domain moved to another app', async () => {
      await router.setRoute({ app: 'alpha', hosts: ['alpha.localhost'], backends: [backendOf('alpha', 1, 1, a)] });
      expect(await handshake('www.alpha.test'), 'route without the domain').to.equal('refused');
      await router.setRoute({
        app: 'beta',
        hosts: ['beta.localhost', 'www.beta.test', 'www.alpha.test'],
        backends: [backendOf('beta', 1, 1, b)],
      });
      expect(await handshake('www.alpha.test'), 'moved to beta').to.equal('refused');
      await router.setRoute({ app: 'beta', hosts: ['beta.localhost', 'www.beta.test'], backends: [backendOf('beta', 1, 1, b)] });
      await router.setRoute({ app: 'alpha', hosts: ['alpha.localhost', 'www.alpha.test'], backends: [backendOf('alpha', 1, 1, a)] });
      expect((await get('www.alpha.test')).status).to.equal(200);
      await router.setCertificates([]);
      expect(await handshake('www.alpha.test')).to.equal('refused');
    });
  });
