import { requires } from '../support/requires.js';
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import https from 'node:https';
import { NginxRouter } from '../../src/router/nginx.js';
import { makeLeaf, makePki } from '../tls/pki.js';
import { backendOf, nginxStateDir, startBackend, stopBackend, type TestBackend } from './support.js';

describe('router engine nginx: a stored certificate nginx would refuse', function () {
  requires('nginx');
  this.timeout(60_000);
  let router: NginxRouter;
  let stateDir: string;
  let a: TestBackend;
  const logs: string[] = [];

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
    router = new NginxRouter({ stateDir, workerProcesses: 1, log: (m) => logs.push(m) });
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
    const status = await new Promise<number>((resolve, reject) => {
      const req = https.request(
        { host: '127.0.0.1', port, servername: 'www.alpha.test', ca, agent: false, headers: { host: 'www.alpha.test' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(status).to.equal(200);
    expect(logs.filter((l) => l.includes('beta'))).to.have.length(1);
    expect(logs.find((l) => l.includes('beta'))).to.match(/^router: the certificate of beta cannot be used, its hosts get no TLS: /);
    // Only alpha's file is kept: nothing of the refused certificate (it holds a key) stays on disk.
    expect(fs.readdirSync(path.join(stateDir, 'certs'))).to.have.length(1);
  });
});
