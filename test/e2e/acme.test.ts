import { requires, type Need } from '../support/requires.js';
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import { nextAttempt } from '../../src/tls/acme/schedule.js';
import { countingProxy, type CountingProxy } from '../tls/acme/counting-proxy.js';
import { startPebble, type Pebble } from '../tls/pebble.js';
import { commitAll, eventually, freePort, git, push, sshKey, tmpdir, TestServer, type Result } from './harness.js';

const SYSTEM_CA = '/etc/ssl/certs/ca-certificates.crt';
const HOST = 'www.auto.test';
/** Seconds pebble's certificates live: renewal is due with 40 s left, 80 s after issue. */
const VALIDITY = 120;

function appRepo(): string {
  const dir = tmpdir('acme-app');
  fs.writeFileSync(path.join(dir, 'Procfile'), 'web: node server.js\n');
  fs.writeFileSync(
    path.join(dir, 'server.js'),
    `const http = require('http');
const server = http.createServer((req, res) => res.end('auto over ' + req.headers['x-forwarded-proto']));
server.listen(Number(process.env.PORT));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`,
  );
  git(dir, ['init', '-q', '-b', 'main']);
  commitAll(dir, 'auto');
  return dir;
}

/** The leaf the router presents for HOST (SHA-256 fingerprint), or the handshake's error. */
function presented(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: HOST, rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.end();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(`error ${err.code}`));
  });
}

/** The peer certificate the router presents for HOST. */
function peer(port: number): Promise<tls.PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: HOST, rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate());
      socket.end();
    });
    socket.on('error', reject);
  });
}

/** Attempts the back-off allows from the first failure at `from` until `to`: the schedule of docs/https.md, replayed. */
function allowedAttempts(from: number, to: number, notBefore: number, notAfter: number): number {
  let n = 0;
  for (let t = from; t < to; n++)
    t = nextAttempt({ now: t, failures: n + 1, lifetimeMs: notAfter - notBefore, remainingMs: Math.max(0, notAfter - t) });
  return n;
}

for (const engine of ['builtin', 'nginx'] as const)
  describe(`e2e: certificates from an ACME CA (pebble) through the ${engine} router`, function () {
    requires('pebble', ...((engine === 'nginx' ? ['nginx'] : []) as Need[]));
    this.timeout(300_000);
    let pebble: Pebble;
    let proxy: CountingProxy;
    let server: TestServer;
    let rootFile: string;
    const cli = (args: string[]) => server.cli(args);
    // The counting proxy lives in this process: whatever may reach the CA must not block its event loop (no spawnSync).
    const cliAsync = (args: string[]) => server.cliAsync(args);
    const refusedLine = (r: Result) => {
      expect(r.code, r.stdout).to.equal(1);
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines, r.stderr).to.have.length(1);
      return lines[0]!;
    };
    const curl = (): Result => {
      const port = server.ports.routerTls;
      const r = spawnSync(
        'curl',
        ['-sS', '--max-time', '20', '--cacert', rootFile, '--resolve', `${HOST}:${port}:127.0.0.1`, `https://${HOST}:${port}/`],
        { encoding: 'utf8' },
      );
      return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
    };
    const webhookBodies: any[] = [];
    let receiver: http.Server;

    before(async function () {
      this.timeout(180_000);
      const routerPort = await freePort();
      pebble = await startPebble({ httpPort: routerPort, validitySeconds: VALIDITY, blocklist: ['blocked.test'] });
      proxy = await countingProxy({ host: '127.0.0.1', port: Number(new URL(pebble.directory).port) });
      const dir = tmpdir('acme-ca');
      // The operator trusts the CA's API through --extra-ca-bundle; nothing turns verification off.
      const bundle = path.join(dir, 'extra-ca.pem');
      fs.writeFileSync(bundle, (fs.existsSync(SYSTEM_CA) ? fs.readFileSync(SYSTEM_CA, 'utf8') : '') + pebble.apiCa);
      rootFile = path.join(dir, 'root.pem');
      receiver = http.createServer((req, res) => {
        let body = '';
        req.on('data', (d) => (body += d));
        req.on('end', () => (webhookBodies.push(JSON.parse(body)), res.end('ok')));
      });
      await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
      server = await TestServer.start({
        ports: { router: routerPort },
        env: {
          SLIPWAY_ROUTER: engine,
          SLIPWAY_EXTRA_CA_BUNDLE: bundle,
          SLIPWAY_ACME_DIRECTORY: `https://127.0.0.1:${proxy.port}/dir`,
          SLIPWAY_ACME_EMAIL: 'ops@example.com',
          SLIPWAY_EGRESS_ALLOW: '127.0.0.1/32',
        },
      });
      const key = sshKey();
      expect(cli(['keys:add', key.pub]).code).to.equal(0);
      expect(cli(['apps:create', 'auto']).code).to.equal(0);
      const pushed = await push(appRepo(), server.sshRemote('auto'), { sshCommand: key.sshCommand });
      expect(pushed.code, pushed.stderr).to.equal(0);
    });

    after(async () => {
      await server?.stop();
      await pebble?.stop();
      await proxy?.close();
      receiver?.close();
    });

    afterEach(() => server?.assertAlive());

    if (engine === 'builtin')
      it("refuses, one line each and serving nothing: an app without custom domains, a name that is not the app's, a name the CA refuses", async () => {
        expect(refusedLine(cli(['certs:auto', 'auto']))).to.match(
          /^ !     auto has no custom domain to get a certificate for \(add one first: slipway domains:add auto /,
        );
        expect(cli(['domains:add', 'auto', 'www.blocked.test']).code).to.equal(0);
        expect(refusedLine(cli(['certs:auto', 'auto', 'shop.example.com']))).to.match(
          /^ !     "shop\.example\.com" is not a custom domain of auto \(it has www\.blocked\.test\) \(/,
        );
        const refused = await cliAsync(['certs:auto', 'auto']);
        expect(refused.stdout).to.contain('-----> Getting a certificate for auto (www.blocked.test)');
        expect(refusedLine(refused)).to.match(/^ !     the CA refused the order: .*blocked/i);
        expect(refusedLine(await cliAsync(['apps:set', 'auto', 'tls=auto']))).to.match(/^ !     the CA refused the order: /);
        expect(cli(['apps:get', 'auto', 'tls']).stdout.trim()).to.equal('');
        expect(cli(['certs:report', 'auto']).stdout).to.match(/auto\s+\(none\)/);
        expect(cli(['domains:remove', 'auto', 'www.blocked.test']).code).to.equal(0);
      });

    it("certs:auto gets a certificate for the domain, printing its stages, and serves it at once: curl with the CA's root gets the app", async () => {
      expect(cli(['domains:add', 'auto', HOST]).code).to.equal(0);
      const hook = cli(['webhooks:add', 'auto', `http://127.0.0.1:${(receiver.address() as any).port}/`, '--events', 'cert.failed']);
      expect(hook.code, hook.stderr).to.equal(0);
      const r = await cliAsync(['certs:auto', 'auto']);
      fs.writeFileSync(rootFile, await pebble.root());
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout, r.stdout).to.contain(`-----> Getting a certificate for auto (${HOST})`);
      expect(r.stdout).to.contain(`-----> ${HOST}: validated`);
      expect(r.stdout, r.stdout).to.match(/-----> Issued by CN=Pebble Intermediate CA[^,\n]*, expires \d{4}-/);
      expect(r.stdout).to.contain(`served at https://${HOST}:${server.ports.routerTls}/`);
      const got = curl();
      expect(got.code, got.stderr).to.equal(0);
      expect(got.stdout).to.equal('auto over https');
      expect(cli(['apps:get', 'auto', 'tls']).stdout.trim()).to.equal('auto');
      expect(cli(['certs:report', 'auto']).stdout).to.match(/auto\s+www\.auto\.test\s+CN=Pebble Intermediate CA.*\s0d\s+acme/);
    });

    if (engine === 'nginx')
      it('domains:add on an ACME app orders a certificate for the new set of names at once; apps:set tls= turns ACME off and removes it', async () => {
        const added = await cliAsync(['domains:add', 'auto', 'api.auto.test']);
        expect(added.code, added.stderr).to.equal(0);
        expect(added.stdout).to.contain('-----> Getting a certificate for auto (www.auto.test, api.auto.test)');
        expect(cli(['certs:report', 'auto']).stdout).to.match(/auto\s+www\.auto\.test, api\.auto\.test\s/);
        const off = cli(['apps:set', 'auto', 'tls=']);
        expect(off.code, off.stderr).to.equal(0);
        expect(off.stdout).to.contain('-----> ACME is off for auto: its certificate is removed');
        expect(cli(['certs:report', 'auto']).stdout).to.match(/auto\s+\(none\)/);
        expect(await presented(server.ports.routerTls)).to.match(/^error /);
      });

    if (engine === 'builtin')
      it('renews by itself: with the CA down the old certificate keeps serving, the failure is reported and backed off; once it is back, the new one is served before expiry, with no failed request and no restart', async function () {
        this.timeout(200_000);
        const first = await presented(server.ports.routerTls);
        const leaf = await peer(server.ports.routerTls);
        const notBefore = Date.parse(leaf.valid_from);
        const notAfter = Date.parse(leaf.valid_to);
        await pebble.pause();
        const stoppedAt = proxy.connections.length;
        // Renewal is due 80 s after issue; the attempts fail and back off. Watched in this process: no CLI polling the clock away.
        await eventually(() => proxy.connections.length - stoppedAt >= 2, 'two renewal attempts with the CA down', 150_000);
        const report = await cliAsync(['certs:report', 'auto']);
        expect(report.stdout).to.match(/last attempt \S+: cannot reach the ACME directory https:\/\/127\.0\.0\.1:\d+\/dir: /);
        expect(report.stdout).to.match(/next attempt \d{4}-\d\d-\d\dT\S+ \([2-9] failed in a row\)/);
        expect(report.stderr).to.match(/the last ACME attempt failed \([2-9] in a row\): cannot reach the ACME directory/);
        expect(await presented(server.ports.routerTls)).to.equal(first);
        const resumedAt = Date.now();
        await pebble.resume();
        // Each failed attempt is one connection; no more reached for the CA than the back-off allows.
        const attempts = proxy.connections.slice(stoppedAt).filter((t) => t < resumedAt);
        expect(attempts.length).to.be.at.most(allowedAttempts(attempts[0]!, resumedAt, notBefore, notAfter) + 1);
        // The CA is back (with a new root): the next attempt renews, under load.
        const roots = [await pebble.root(), fs.readFileSync(rootFile, 'utf8')];
        const pid = server.proc!.pid;
        const seen = new Set<string>();
        const failures: string[] = [];
        let stop = false;
        const one = () =>
          new Promise<void>((resolve) => {
            const req = https.request(
              { host: '127.0.0.1', port: server.ports.routerTls, servername: HOST, ca: roots, agent: false, headers: { host: HOST } },
              (res) => {
                seen.add((res.socket as tls.TLSSocket).getPeerCertificate().fingerprint256);
                let body = '';
                res.on('data', (d) => (body += d));
                res.on('end', () => {
                  if (res.statusCode !== 200 || body !== 'auto over https') failures.push(`${res.statusCode} ${body}`);
                  resolve();
                });
              },
            );
            req.on('error', (err) => (failures.push(err.message), resolve()));
            req.end();
          });
        const loop = async () => {
          while (!stop) await one();
        };
        const loops = [loop(), loop(), loop()];
        // The load runs on until its own requests got the renewed certificate too: the probe may see it between two of theirs.
        await eventually(
          async () => (await presented(server.ports.routerTls)) !== first && seen.size === 2,
          'the renewed certificate served, to the load as well',
          60_000,
        );
        stop = true;
        await Promise.all(loops);
        expect(failures).to.deep.equal([]);
        expect(seen.size).to.equal(2);
        expect(server.proc!.pid).to.equal(pid);
        const after = cli(['certs:report', 'auto']);
        expect(after.stderr).to.not.contain('failed');
        expect(after.stdout).to.match(/last attempt \S+: ok/);
        // The failures stay on record: the jobs, the audit log, the webhook.
        expect(cli(['jobs', 'auto']).stdout).to.match(/\bcert\s+task\s+failed\b/);
        expect(cli(['audit', 'auto']).stdout).to.match(/certs:renew\s+auto\s+slipway\s+failed/);
        await eventually(() => webhookBodies.some((b) => b.event === 'cert.failed'), 'the cert.failed webhook');
        const event = webhookBodies.find((b) => b.event === 'cert.failed');
        expect(event).to.include({ app: 'auto' });
        expect(event.error).to.match(/^cannot reach the ACME directory/);
        expect(event.domains).to.deep.equal([HOST]);
      });
  });
