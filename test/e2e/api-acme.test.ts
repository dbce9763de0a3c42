import { requires, type Need } from '../support/requires.js';
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { startPebble, type Pebble } from '../tls/pebble.js';
import { eventually, freePort, ssh, sshKey, tmpdir, TestServer } from './harness.js';

const API = 'paas.test';
const SYSTEM_CA = '/etc/ssl/certs/ca-certificates.crt';

/** The leaf the router presents for the API domain (SHA-256 fingerprint), or the handshake's error. */
function presented(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: API, rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate().fingerprint256 ?? 'none');
      socket.end();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(`error ${err.code}`));
  });
}

for (const engine of ['builtin', 'nginx'] as const)
  describe(`e2e: the API domain's own certificate from an ACME CA (pebble, ${engine} router)`, function () {
    requires('pebble', ...((engine === 'nginx' ? ['nginx'] : []) as Need[]));
    this.timeout(240_000);
    let pebble: Pebble;
    let bundle: string;
    let rootFile: string;
    let routerPort: number;
    const servers: TestServer[] = [];

    const start = (home?: string) =>
      TestServer.start({
        home,
        ports: { router: routerPort },
        env: {
          SLIPWAY_ROUTER: engine,
          SLIPWAY_EXTRA_CA_BUNDLE: bundle,
          SLIPWAY_ACME_DIRECTORY: pebble.directory,
          SLIPWAY_API_DOMAIN: API,
          SLIPWAY_API_CERT: 'acme',
        },
      }).then((s) => (servers.push(s), s));

    /** curl as a CI job would, trusting pebble's root only: the API index over HTTPS at the API domain. */
    const index = (server: TestServer) => {
      const port = server.ports.routerTls;
      const r = spawnSync(
        'curl',
        ['-sS', '--max-time', '20', '--cacert', rootFile, '--resolve', `${API}:${port}:127.0.0.1`, `https://${API}:${port}/api/v1`],
        { encoding: 'utf8' },
      );
      return { code: r.status ?? -1, body: r.stdout, err: r.stderr };
    };

    before(async function () {
      this.timeout(120_000);
      routerPort = await freePort();
      pebble = await startPebble({ httpPort: routerPort });
      const dir = tmpdir('api-acme');
      // The operator trusts the CA's API through --extra-ca-bundle; nothing turns verification off.
      bundle = path.join(dir, 'extra-ca.pem');
      fs.writeFileSync(bundle, (fs.existsSync(SYSTEM_CA) ? fs.readFileSync(SYSTEM_CA, 'utf8') : '') + pebble.apiCa);
      rootFile = path.join(dir, 'root.pem');
      fs.writeFileSync(rootFile, await pebble.root());
    });

    after(async () => {
      for (const s of servers) await s.stop().catch(() => undefined);
      await pebble?.stop();
    });

    it('gets a certificate for --api-domain at start, serves the API with it, and a restart serves the same one without ordering', async () => {
      const server = await start();
      await eventually(() => index(server).code === 0, 'the API domain served over HTTPS with a certificate pebble issued', 60_000);
      expect(JSON.parse(index(server).body)).to.have.property('name');
      const report = server.cli(['certs:report']);
      expect(report.code, report.stderr).to.equal(0);
      expect(report.stdout).to.match(/\(server\)\s+paas\.test\s+.*Pebble Intermediate.*acme/);
      // A member sees her own apps' certificates only: not the server's row, its issuer or its errors.
      const eve = sshKey();
      expect(server.cli(['users:add', 'eve']).code).to.equal(0);
      expect(server.cli(['keys:add', '--user', 'eve', eve.pub]).code).to.equal(0);
      const asEve = ssh(eve.key, server.ports.ssh, ['certs:report']);
      expect(asEve.code, asEve.stderr).to.equal(0);
      expect(asEve.stdout).to.not.include('(server)');
      expect(asEve.stdout).to.not.include(API);
      const before = await presented(server.ports.routerTls);
      expect(before).to.match(/^[0-9A-F:]{95}$/);

      await server.stop();
      await pebble.pause();
      try {
        await server.boot();
        // With the CA down, the certificate kept in SQLite is what the restarted router serves, at once.
        expect(await presented(server.ports.routerTls)).to.equal(before);
        expect(index(server).code).to.equal(0);
      } finally {
        await pebble.resume();
      }
      fs.writeFileSync(rootFile, await pebble.root());
      await server.stop();
    });

    it('keeps answering the API when the CA cannot be reached, and certs:report says why and when it tries again', async () => {
      await pebble.pause();
      try {
        const server = await start();
        await eventually(
          () => /last attempt .*cannot reach the ACME directory/.test(server.cli(['certs:report']).stdout),
          'the failure in certs:report',
        );
        const report = server.cli(['certs:report']).stdout;
        expect(report).to.match(/next attempt \S+ \(1 failed in a row\)/);
        // The API still answers, over plain HTTP at the domain and on its own port; the daemon is alive.
        const plain = spawnSync(
          'curl',
          [
            '-sS',
            '-o',
            '/dev/null',
            '-w',
            '%{http_code}',
            '--resolve',
            `${API}:${server.ports.router}:127.0.0.1`,
            `http://${API}:${server.ports.router}/api/v1`,
          ],
          {
            encoding: 'utf8',
          },
        );
        expect(plain.stdout).to.equal('200');
        server.assertAlive();
      } finally {
        await pebble.resume();
      }
    });
  });
