import { requires } from '../support/requires.js';
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import { makeLeaf, makePki, type Leaf, type Pki } from '../tls/pki.js';
import { BIN, commitAll, eventually, git, push, ssh, sshKey, tmpdir, useServer, type Result, type TestServer } from './harness.js';

const SYSTEM_CA = '/etc/ssl/certs/ca-certificates.crt';

/** An app that answers with the protocol the router told it about, and its name. */
function protoRepo(name: string): string {
  const dir = tmpdir('proto');
  fs.writeFileSync(path.join(dir, 'Procfile'), 'web: node server.js\n');
  fs.writeFileSync(
    path.join(dir, 'server.js'),
    `const http = require('http');
const server = http.createServer((req, res) => res.end('${name} saw ' + req.headers['x-forwarded-proto']));
server.listen(Number(process.env.PORT));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`,
  );
  git(dir, ['init', '-q', '-b', 'main']);
  commitAll(dir, name);
  return dir;
}

/** The certificate the router presents for `servername` (SHA-256 fingerprint), or the handshake's error code. */
function presented(port: number, servername: string, ca: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, ca, rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.end();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(`error ${err.code}`));
  });
}

const fingerprint = (leaf: Leaf) => new X509Certificate(leaf.certPem).fingerprint256;

for (const engine of ['builtin', 'nginx'] as const)
  describe(`e2e: HTTPS with your own certificate (${engine} router)`, function () {
    this.timeout(300_000);
    if (engine === 'nginx') requires('nginx');
    const pki: Pki = makePki();
    const root = fs.readFileSync(pki.root, 'utf8');
    // The test root is a "private CA" the operator trusts through --extra-ca-bundle.
    const bundle = path.join(pki.dir, 'extra-ca.pem');
    fs.writeFileSync(bundle, (fs.existsSync(SYSTEM_CA) ? fs.readFileSync(SYSTEM_CA, 'utf8') : '') + root);
    const env = useServer({ env: { SLIPWAY_EXTRA_CA_BUNDLE: bundle, SLIPWAY_ROUTER: engine } });
    let server: TestServer;
    const HOST = 'www.secure.test';

    /** `curl --cacert ROOT --resolve HOST:PORT:127.0.0.1 https://HOST:PORT/`, as a user checks it. */
    const curl = (host: string): Result => {
      const port = server.ports.routerTls;
      const r = spawnSync(
        'curl',
        ['-sS', '--max-time', '20', '--cacert', pki.root, '--resolve', `${host}:${port}:127.0.0.1`, `https://${host}:${port}/`],
        { encoding: 'utf8' },
      );
      return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
    };
    const cli = (args: string[], input?: string) => server.cli(args, input);
    /** The one ` !     …` line a refused command prints. */
    const refusedLine = (r: Result) => {
      expect(r.code, r.stdout).to.equal(1);
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines, r.stderr).to.have.length(1);
      return lines[0]!;
    };

    before(async function () {
      this.timeout(180_000);
      server = env.server;
      expect(cli(['apps:create', 'secure']).code).to.equal(0);
      const pushed = await push(protoRepo('secure'), server.sshRemote('secure'), { sshCommand: env.key.sshCommand });
      expect(pushed.code, pushed.stderr).to.equal(0);
      const added = cli(['domains:add', 'secure', HOST]);
      expect(added.code, added.stderr).to.equal(0);
    });

    it('certs:add refuses a mismatched key, an expired certificate, a missing intermediate, a wrong name and malformed PEM, each with its own line, and serves nothing', () => {
      const good = makeLeaf(pki, [HOST]);
      const other = makeLeaf(pki, ['other.secure.test']);
      const expired = makeLeaf(pki, [HOST], { expired: true });
      const wrong = makeLeaf(pki, ['elsewhere.test']);
      const garbage = path.join(pki.dir, 'garbage.pem');
      fs.writeFileSync(garbage, 'this is not a certificate\n');
      expect(refusedLine(cli(['certs:add', 'secure', good.fullchain, other.key]))).to.match(
        /^ !     mismatched key: the private key does not belong to any of the 2 certificates \(CN=www\.secure\.test\) \(give the key/,
      );
      expect(refusedLine(cli(['certs:add', 'secure', expired.fullchain, expired.key]))).to.match(
        /^ !     expired: the certificate expired on 2020-02-01 \(/,
      );
      expect(refusedLine(cli(['certs:add', 'secure', good.cert, good.key]))).to.match(
        /^ !     missing intermediate: the chain stops at CN=www\.secure\.test: its issuer CN=Slipway Test Intermediate, O=Slipway Tests is neither in the file nor a trusted CA \(/,
      );
      expect(refusedLine(cli(['certs:add', 'secure', wrong.fullchain, wrong.key]))).to.match(
        /^ !     wrong name: the certificate \(for elsewhere\.test\) does not cover www\.secure\.test \(/,
      );
      expect(refusedLine(cli(['certs:add', 'secure', garbage, good.key]))).to.match(
        /^ !     malformed PEM: no CERTIFICATE block was found \(/,
      );
      expect(cli(['certs:report', 'secure']).stdout).to.match(/secure\s+\(none\)/);
      const r = curl(HOST);
      expect(r.code, r.stdout).to.not.equal(0);
    });

    it('serves the domain over HTTPS once certs:add took a good pair: the app answers and saw X-Forwarded-Proto https', () => {
      const good = makeLeaf(pki, [HOST]);
      const added = cli(['certs:add', 'secure', good.fullchain, good.key]);
      expect(added.code, added.stderr).to.equal(0);
      expect(added.stdout).to.contain(
        `-----> Added a certificate to secure for ${HOST} (issued by CN=Slipway Test Intermediate, O=Slipway Tests`,
      );
      expect(added.stdout).to.contain(`served at https://${HOST}:${server.ports.routerTls}/`);
      const r = curl(HOST);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.equal('secure saw https');
      // Plain HTTP still works, and says so.
      const plain = spawnSync('curl', ['-sS', '-H', `Host: ${HOST}`, `http://127.0.0.1:${server.ports.router}/`], { encoding: 'utf8' });
      expect(plain.stdout).to.equal('secure saw http');
      const report = cli(['certs:report']);
      expect(report.stdout).to.match(
        new RegExp(
          `secure\\s+${HOST.replace(/\./g, '\\.')}\\s+CN=Slipway Test Intermediate, O=Slipway Tests\\s+\\d{4}-\\d\\d-\\d\\d\\s+19d\\s+own`,
        ),
      );
    });

    it('warns in certs:report 14 days before an own certificate expires', () => {
      const short = makeLeaf(pki, [HOST], { days: 10 });
      expect(cli(['certs:add', 'secure', short.fullchain, short.key]).code).to.equal(0);
      const report = cli(['certs:report', 'secure']);
      expect(report.stderr).to.match(
        /^ !     the certificate of secure expires in 10 days \(\d{4}-\d\d-\d\d\); own certificates are not renewed: add a new one with certs:add$/m,
      );
    });

    it('replaces the certificate with no restart and no failed request while requests keep coming', async () => {
      const first = makeLeaf(pki, [HOST]);
      expect(cli(['certs:add', 'secure', first.fullchain, first.key]).code).to.equal(0);
      const pid = server.proc!.pid;
      const seen = new Set<string>();
      const failures: string[] = [];
      let stop = false;
      let requests = 0;
      const one = () =>
        new Promise<void>((resolve) => {
          const req = https.request(
            { host: '127.0.0.1', port: server.ports.routerTls, servername: HOST, ca: root, agent: false, headers: { host: HOST } },
            (res) => {
              seen.add((res.socket as tls.TLSSocket).getPeerCertificate().fingerprint256);
              let body = '';
              res.on('data', (d) => (body += d));
              res.on('end', () => {
                if (res.statusCode !== 200 || body !== 'secure saw https') failures.push(`${res.statusCode} ${body}`);
                resolve();
              });
            },
          );
          req.on('error', (err) => {
            failures.push(err.message);
            resolve();
          });
          req.end();
        });
      const loop = async () => {
        while (!stop) {
          await one();
          requests++;
        }
      };
      const loops = [loop(), loop(), loop()];
      const second = makeLeaf(pki, [HOST]);
      const replaced = await server.cliAsync(['certs:add', 'secure', second.fullchain, second.key]);
      expect(replaced.code, replaced.stderr).to.equal(0);
      const after = requests;
      // Keep going until some requests ran after the swap, so both sides of it were seen.
      while (requests < after + 20) await new Promise((r) => setTimeout(r, 20));
      stop = true;
      await Promise.all(loops);
      expect(failures).to.deep.equal([]);
      expect(seen.has(fingerprint(first)), 'the first certificate was served').to.equal(true);
      expect(seen.has(fingerprint(second)), 'the replacement was served').to.equal(true);
      expect(await presented(server.ports.routerTls, HOST, root)).to.equal(fingerprint(second));
      expect(server.proc!.pid).to.equal(pid);
      server.assertAlive('the certificate swap');
    });

    it('apps:set tls.redirect=true sends plain HTTP to https; tls.hsts adds Strict-Transport-Security, with a warning; both apply at once and reset', () => {
      const leaf = makeLeaf(pki, [HOST]);
      expect(cli(['certs:add', 'secure', leaf.fullchain, leaf.key]).code).to.equal(0);
      const set = cli(['apps:set', 'secure', 'tls.redirect=true', 'tls.hsts=60']);
      expect(set.code, set.stderr).to.equal(0);
      expect(set.stderr).to.match(
        /^ !     HSTS: a browser that gets an HTTPS answer from secure refuses plain HTTP to that domain for the next 60 seconds/m,
      );
      const plain = () =>
        spawnSync(
          'curl',
          [
            '-sS',
            '-o',
            '/dev/null',
            '-w',
            '%{http_code} %{redirect_url}',
            '-H',
            `Host: ${HOST}`,
            `http://127.0.0.1:${server.ports.router}/path?q=1`,
          ],
          { encoding: 'utf8' },
        ).stdout;
      expect(plain()).to.equal(`308 https://${HOST}:${server.ports.routerTls}/path?q=1`);
      const port = server.ports.routerTls;
      const head = spawnSync(
        'curl',
        ['-sS', '-D', '-', '-o', '/dev/null', '--cacert', pki.root, '--resolve', `${HOST}:${port}:127.0.0.1`, `https://${HOST}:${port}/`],
        { encoding: 'utf8' },
      ).stdout;
      expect(head).to.match(/^strict-transport-security: max-age=60\r?$/im);
      expect(cli(['apps:set', 'secure', 'tls.redirect=', 'tls.hsts=']).code).to.equal(0);
      expect(plain()).to.equal('200 ');
    });

    describe('a hostile member', () => {
      let mallory: ReturnType<typeof sshKey>;
      let token: string;
      const asMallory = (args: string[], input?: string) => ssh(mallory.key, server.ports.ssh, args, input);

      before(async function () {
        this.timeout(180_000);
        mallory = sshKey();
        expect(cli(['users:add', 'mallory']).code).to.equal(0);
        expect(cli(['keys:add', '--user', 'mallory', mallory.pub]).code).to.equal(0);
        token = cli(['tokens:create', '--user', 'mallory', '--name', 'm']).stdout.trim();
        expect(asMallory(['apps:create', 'mal']).code).to.equal(0);
        const pushed = await push(protoRepo('mal'), server.sshRemote('mal'), { sshCommand: mallory.sshCommand });
        expect(pushed.code, pushed.stderr).to.equal(0);
        expect(asMallory(['domains:add', 'mal', 'www.mal.test']).code).to.equal(0);
      });

      it("cannot add a certificate to another user's app, over SSH or the API: it answers as for an app that does not exist", async () => {
        const own = makeLeaf(pki, [HOST]);
        expect(cli(['certs:add', 'secure', own.fullchain, own.key]).code).to.equal(0);
        const leaf = makeLeaf(pki, [HOST]);
        const r = asMallory(['certs:add', 'secure'], leaf.fullchainPem + leaf.keyPem);
        const ghost = asMallory(['certs:add', 'nosuchapp'], leaf.fullchainPem + leaf.keyPem);
        expect(r.code).to.equal(1);
        expect(r.stderr).to.equal(ghost.stderr.replace(/nosuchapp/g, 'secure'));
        for (const method of ['PUT', 'DELETE']) {
          const res = await fetch(`http://127.0.0.1:${server.ports.http}/api/v1/apps/secure/certs`, {
            method,
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body: method === 'PUT' ? JSON.stringify({ chain: leaf.fullchainPem, key: leaf.keyPem }) : undefined,
          });
          expect(res.status, method).to.equal(404);
        }
        expect(asMallory(['certs:remove', 'secure']).code).to.equal(1);
        expect(await presented(server.ports.routerTls, HOST, root)).to.equal(fingerprint(own));
      });

      it('cannot add a certificate for a domain her app does not have (over SSH, or from her laptop with the remote CLI)', () => {
        const leaf = makeLeaf(pki, [HOST]);
        const line = /^ !     wrong name: the certificate \(for www\.secure\.test\) does not cover www\.mal\.test \(/;
        expect(refusedLine(asMallory(['certs:add', 'mal'], leaf.fullchainPem + leaf.keyPem))).to.match(line);
        // The remote CLI reads the two files on her side and sends them.
        const remote = spawnSync(BIN, ['certs:add', 'mal', leaf.fullchain, leaf.key], {
          encoding: 'utf8',
          env: {
            ...process.env,
            SLIPWAY_URL: `http://127.0.0.1:${server.ports.http}`,
            SLIPWAY_TOKEN: token,
            XDG_CONFIG_HOME: tmpdir('xdg'),
            SLIPWAY_HOME: tmpdir('laptop'),
          },
        });
        expect(refusedLine({ code: remote.status ?? -1, stdout: remote.stdout, stderr: remote.stderr })).to.match(line);
      });

      it("gets her certificate served for her own domain only: another app's domain it names never gets it", async () => {
        const own = makeLeaf(pki, [HOST]);
        expect(cli(['certs:add', 'secure', own.fullchain, own.key]).code).to.equal(0);
        const both = makeLeaf(pki, ['www.mal.test', HOST]);
        // Through the API this time: the same checks.
        const res = await fetch(`http://127.0.0.1:${server.ports.http}/api/v1/apps/mal/certs`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ chain: both.fullchainPem, key: both.keyPem }),
        });
        const view = (await res.json()) as { served: string[]; names: string[] };
        expect(res.status, JSON.stringify(view)).to.equal(200);
        expect(view.names).to.deep.equal(['www.mal.test', HOST]);
        expect(view.served).to.deep.equal(['www.mal.test']);
        expect(curl('www.mal.test').stdout).to.equal('mal saw https');
        const port = server.ports.routerTls;
        expect(await presented(port, 'www.mal.test', root)).to.equal(fingerprint(both));
        expect(await presented(port, HOST, root)).to.equal(fingerprint(own));
        // Even once secure has no certificate of its own: no handshake rather than hers.
        const removed = cli(['certs:remove', 'secure']);
        expect(removed.code, removed.stderr).to.equal(0);
        expect(await presented(port, HOST, root)).to.match(/^error /);
        expect(curl(HOST).code).to.not.equal(0);
        // A request on her connection for the other app's host is turned away, not routed.
        const misdirected = spawnSync(
          'curl',
          [
            '-sS',
            '--cacert',
            pki.root,
            '--resolve',
            `www.mal.test:${port}:127.0.0.1`,
            '-H',
            `Host: ${HOST}`,
            `https://www.mal.test:${port}/`,
          ],
          { encoding: 'utf8' },
        );
        expect(misdirected.stdout).to.equal(`This connection is for www.mal.test, not ${HOST}\n`);
      });

      it('keeps serving after a restart; domains:remove and apps:destroy stop it at once', async () => {
        const leaf = makeLeaf(pki, ['www.mal.test']);
        expect(asMallory(['certs:add', 'mal'], leaf.fullchainPem + leaf.keyPem).code).to.equal(0);
        await server.stop();
        await server.boot();
        await eventually(() => curl('www.mal.test').stdout === 'mal saw https', 'mal served over https after the restart');
        const port = server.ports.routerTls;
        expect(await presented(port, 'www.mal.test', root)).to.equal(fingerprint(leaf));
        expect(asMallory(['domains:remove', 'mal', 'www.mal.test']).code).to.equal(0);
        expect(await presented(port, 'www.mal.test', root)).to.match(/^error /);
        expect(asMallory(['domains:add', 'mal', 'www.mal.test']).code).to.equal(0);
        expect(curl('www.mal.test').stdout).to.equal('mal saw https');
        const destroyed = asMallory(['apps:destroy', 'mal', '--confirm', 'mal']);
        expect(destroyed.code, destroyed.stderr).to.equal(0);
        expect(await presented(port, 'www.mal.test', root)).to.match(/^error /);
      });
    });
  });
