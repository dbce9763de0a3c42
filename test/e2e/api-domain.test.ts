import { requires } from '../support/requires.js';
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { makeLeaf, makePki, type Pki } from '../tls/pki.js';
import { BIN, appRepo, tmpdir, useServer, type Result, type TestServer } from './harness.js';

const API = 'paas.test';
const SYSTEM_CA = '/etc/ssl/certs/ca-certificates.crt';

/** An address of this machine that is not loopback: the remote CLI must treat it as another host. */
const EXTERNAL = Object.values(os.networkInterfaces())
  .flat()
  .find((i) => i?.family === 'IPv4' && !i.internal)?.address;

/**
 * The CLI resolves paas.test to 127.0.0.1, as curl's --resolve and git's
 * http.curloptResolve do for them: a DNS entry for the test, nothing else.
 */
function resolveHook(dir: string): string {
  const file = path.join(dir, 'resolve-paas.mjs');
  fs.writeFileSync(
    file,
    `import dns from 'node:dns';
const lookup = dns.lookup;
dns.lookup = function (host, options, cb) {
  if (typeof options === 'function') [cb, options] = [options, {}];
  if (host !== '${API}') return lookup.call(this, host, options, cb);
  process.nextTick(() => (options && options.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4)));
};
`,
  );
  return file;
}

/** The one ` !     …` line a refused command prints. */
function refusedLine(r: Result): string {
  expect(r.code, r.stdout).to.equal(1);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).to.have.length(1);
  return lines[0]!;
}

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

for (const engine of ['builtin', 'nginx'] as const)
  describe(`e2e: the API and git over HTTPS at --api-domain (${engine} router)`, function () {
    this.timeout(180_000);
    if (engine === 'nginx') requires('nginx');
    const pki: Pki = makePki();
    const leaf = makeLeaf(pki, [API]);
    // The test root is a private CA the operator trusts through --extra-ca-bundle.
    const bundle = path.join(pki.dir, 'extra-ca.pem');
    fs.writeFileSync(bundle, (fs.existsSync(SYSTEM_CA) ? fs.readFileSync(SYSTEM_CA, 'utf8') : '') + fs.readFileSync(pki.root, 'utf8'));
    const env = useServer({
      env: {
        SLIPWAY_ROUTER: engine,
        SLIPWAY_EXTRA_CA_BUNDLE: bundle,
        SLIPWAY_API_DOMAIN: API,
        SLIPWAY_API_CERT: leaf.fullchain,
        SLIPWAY_API_KEY: leaf.key,
        SLIPWAY_BIND: `127.0.0.1,${EXTERNAL}`,
      },
    });
    let server: TestServer;
    const client = tmpdir('client');
    const hook = resolveHook(client);
    const apiUrl = () => `https://${API}:${server.ports.routerTls}`;
    /** The remote CLI as a laptop runs it: no server home, its own login file, paas.test resolved to this machine. */
    const remote = (args: string[], extra: NodeJS.ProcessEnv = {}) =>
      run(BIN, args, {
        env: { SLIPWAY_HOME: path.join(client, 'no-server'), XDG_CONFIG_HOME: client, NODE_OPTIONS: `--import ${hook}`, ...extra },
      });
    const curl = (args: string[]) => spawnSync('curl', ['-sS', '--max-time', '20', ...args], { encoding: 'utf8' });

    before(() => {
      expect(EXTERNAL, 'a non-loopback IPv4 address of this machine').to.be.a('string');
      server = env.server;
    });

    it('git push https://paas.test/git/APP.git with a token deploys through the router, and the app serves its body', async () => {
      const tls = server.ports.routerTls;
      const created = server.cli(['apps:create', 'hello']);
      expect(created.stdout).to.contain(`or over HTTP: git remote add paas https://${API}:${tls}/git/hello.git`);
      const pushed = await run(
        'git',
        [
          '-c',
          `http.sslCAInfo=${pki.root}`,
          '-c',
          `http.curloptResolve=${API}:${tls}:127.0.0.1`,
          'push',
          `https://git:${server.adminToken}@${API}:${tls}/git/hello.git`,
          'main',
        ],
        // GIT_SSL_CAINFO (set on many machines) would win over -c http.sslCAInfo.
        { cwd: appRepo('procfile-hello'), env: { GIT_TERMINAL_PROMPT: '0', GIT_SSL_CAINFO: pki.root } },
      );
      expect(pushed.code, pushed.stderr).to.equal(0);
      expect(pushed.stderr).to.match(/remote: -----> v1 of hello is live/);
      expect((await server.get('hello')).body).to.equal('Hello from Slipway');
    });

    it('the remote CLI works over https with --ca and plain HTTP at the API domain; --ca is kept by login, and without it the certificate is refused in one line', async () => {
      const token = { SLIPWAY_URL: apiUrl(), SLIPWAY_TOKEN: server.adminToken };
      const listed = await remote(['--ca', pki.root, 'apps'], token);
      expect(listed.code, listed.stderr).to.equal(0);
      expect(listed.stdout).to.match(/^hello\b/m);
      // Plain HTTP at the API domain on the router's plain port reaches the API too.
      const health = curl(['--resolve', `${API}:${server.ports.router}:127.0.0.1`, `http://${API}:${server.ports.router}/api/v1/health`]);
      expect(health.stdout).to.equal('{"ok":true}');
      // What follows is the client's own doing, the same whatever engine serves: once is enough.
      if (engine !== 'builtin') return;
      expect(refusedLine(await remote(['apps'], token))).to.match(
        new RegExp(
          `^ !     the certificate of https://${API.replace('.', '\\.')}:${server.ports.routerTls} is not trusted \\((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)`,
        ),
      );
      const login = await remote(['login', apiUrl(), '--token', server.adminToken, '--ca', pki.root]);
      expect(login.code, login.stderr).to.equal(0);
      const who = await remote(['whoami']);
      expect(who.stdout).to.equal(`admin (admin) on ${apiUrl()} (from slipway login)\n`);
    });

    if (engine === 'builtin') {
      it('refuses to send a token over http:// to a non-loopback host before connecting, in one line; --insecure lifts it', async () => {
        // A listener on the non-loopback address that counts connections: the refusal must come before any.
        let connections = 0;
        const trap = net.createServer((s) => {
          connections++;
          s.destroy();
        });
        await new Promise<void>((r) => trap.listen(0, EXTERNAL, () => r()));
        const url = `http://${EXTERNAL}:${(trap.address() as net.AddressInfo).port}`;
        try {
          const line = `^ !     refusing to send a token to ${url.replace(/\./g, '\\.')} over plain http://, where anyone on the way can read it; use the server's https:// address \\(its --api-domain\\), or add --insecure if you trust every network in between$`;
          expect(refusedLine(await remote(['apps'], { SLIPWAY_URL: url, SLIPWAY_TOKEN: 'x' }))).to.match(new RegExp(line));
          expect(refusedLine(await remote(['login', url, '--token', 'x']))).to.match(new RegExp(line));
          expect(connections).to.equal(0);
        } finally {
          trap.close();
        }
        // With --insecure the refusal is gone: the same CLI reaches the real API over that address.
        const insecure = { SLIPWAY_URL: `http://${EXTERNAL}:${server.ports.http}`, SLIPWAY_TOKEN: server.adminToken };
        const listed = await remote(['--insecure', 'apps'], insecure);
        expect(listed.code, listed.stderr).to.equal(0);
        expect(listed.stdout).to.match(/^hello\b/m);
      });

      it('the API records the address the router saw; a forged X-Forwarded-For or router header is not believed', () => {
        const tls = server.ports.routerTls;
        const forged = ['-H', 'Authorization: Bearer wrong', '-H', 'X-Forwarded-For: 203.0.113.7', '-H', 'X-Slipway-Router: forged'];
        const via = curl([
          '-o',
          '/dev/null',
          '-w',
          '%{http_code}',
          '--cacert',
          pki.root,
          '--resolve',
          `${API}:${tls}:${EXTERNAL}`,
          ...forged,
          `https://${API}:${tls}/api/v1/apps`,
        ]);
        expect(via.stdout).to.equal('401');
        const direct = curl(['-o', '/dev/null', '-w', '%{http_code}', ...forged, `http://127.0.0.1:${server.ports.http}/api/v1/apps`]);
        expect(direct.stdout).to.equal('401');
        const audit = server.cli(['audit', '-n', '5']).stdout;
        expect(audit).to.contain(`http ${EXTERNAL}`);
        expect(audit).to.match(/http 127\.0\.0\.1 /);
        expect(audit).to.not.contain('203.0.113.7');
      });

      it('domains:add refuses the API domain and names under it, in one line', () => {
        expect(refusedLine(server.cli(['domains:add', 'hello', API]))).to.equal(
          ` !     ${API} is the server's own API domain (--api-domain ${API}) (the API and git over HTTP are served there; give the app another host name)`,
        );
        expect(refusedLine(server.cli(['domains:add', 'hello', `www.${API}`]))).to.match(
          /^ !     www\.paas\.test is under the server's own API domain/,
        );
      });
    }
  });
