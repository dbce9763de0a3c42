import { requires } from '../support/requires.js';
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import https from 'node:https';
import type { AccessEntry } from '../../src/router/engine.js';
import { NginxRouter } from '../../src/router/nginx.js';
import { makeLeaf, makePki } from '../tls/pki.js';
import { backendOf, nginxStateDir, startBackend, stopBackend, type TestBackend } from './support.js';

describe('router engine nginx: certificates it cannot serve', function () {
  requires('nginx');
  this.timeout(60_000);
  let router: NginxRouter;
  let stateDir: string;
  let a: TestBackend;
  const logs: string[] = [];
  const counted: Array<{ app: string; status: number }> = [];
  const accessed: AccessEntry[] = [];

  after(async () => {
    await router?.close();
    if (a) await stopBackend(a);
    if (stateDir) fs.rmSync(stateDir, { recursive: true, force: true });
  });

  it('is left out for its app only (logged): the others are served, and the TLS port starts', async () => {
    const pki = makePki();
    const ca = fs.readFileSync(pki.root, 'utf8');
    a = await startBackend('alpha');
    stateDir = nginxStateDir();
    router = new NginxRouter({
      stateDir,
      workerProcesses: 1,
      log: (m) => logs.push(m),
      requests: { request: (app, _method, status) => counted.push({ app, status }) },
    });
    router.onAccess = (entry) => accessed.push(entry);
    await router.listen(0, '127.0.0.1');
    await router.setRoute({ app: 'alpha', hosts: ['www.alpha.test'], backends: [backendOf('alpha', 1, 1, a)] });
    await router.setRoute({ app: 'beta', hosts: ['www.beta.test'], backends: [backendOf('beta', 1, 1, a)] });
    const good = makeLeaf(pki, ['www.alpha.test']);
    const other = makeLeaf(pki, ['www.beta.test']);
    // As the store could hold it: beta's certificate with a key that is not its own.
    await router.setCertificates([
      { app: 'alpha', chain: good.fullchainPem, key: good.keyPem },
      { app: 'beta', chain: other.fullchainPem, key: good.keyPem },
    ]);
    await router.listenTls(0, '127.0.0.1');
    const port = router.tlsAddress()!.port;
    const get = (host: string) =>
      new Promise<number>((resolve, reject) => {
        const req = https.request({ host: '127.0.0.1', port, servername: 'www.alpha.test', ca, agent: false, headers: { host } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
    expect(await get('www.alpha.test')).to.equal(200);
    // Misdirected (a connection for alpha asking for beta): answered by nginx, not counted, as with the built-in engine.
    expect(await get('www.beta.test')).to.equal(421);
    expect(await get('www.alpha.test')).to.equal(200);
    await until(() => counted.length >= 2);
    expect(counted).to.deep.equal([
      { app: 'alpha', status: 200 },
      { app: 'alpha', status: 200 },
    ]);
    expect(accessed.map((e) => [e.app, e.host, e.protocol])).to.deep.equal([
      ['alpha', 'www.alpha.test', 'https'],
      ['alpha', 'www.alpha.test', 'https'],
    ]);
    expect(logs.filter((l) => l.includes('beta'))).to.have.length(1);
    expect(logs.find((l) => l.includes('beta'))).to.match(/^router: the certificate of beta cannot be used, its hosts get no TLS: /);
    // Only alpha's file is kept: nothing of the refused certificate (it holds a key) stays on disk.
    expect(fs.readdirSync(path.join(stateDir, 'certs'))).to.have.length(1);
  });

  it('keeps no file of a certificate a failed change did not put in service', async () => {
    const certs = () => fs.readdirSync(path.join(stateDir, 'certs'));
    const before = certs();
    // nginx gone (as after a crash): the change fails, and the new certificate's file must not stay behind.
    const pid = Number(fs.readFileSync(path.join(stateDir, 'nginx.pid'), 'utf8'));
    process.kill(pid, 'SIGKILL');
    await until(() => !alive(pid));
    const pki = makePki();
    const fresh = makeLeaf(pki, ['www.alpha.test']);
    const err = await router.setCertificates([{ app: 'alpha', chain: fresh.fullchainPem, key: fresh.keyPem }]).then(
      () => undefined,
      (e: Error) => e.message,
    );
    expect(err).to.match(/^nginx is not running/);
    expect(certs()).to.deep.equal(before);
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(ok: () => boolean): Promise<void> {
  while (!ok()) await new Promise((r) => setTimeout(r, 20));
}
