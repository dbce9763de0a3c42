import { expect } from 'chai';
import { execa } from 'execa';
import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { CONTAINER_CA } from '../../src/docker/labels.js';
import { STACK_IMAGE } from '../../src/docker/engine.js';
import { guestEnv } from '../../src/runtime/docker/container-spec.js';
import { makeLeaf, makePki } from '../tls/pki.js';
import { appRepo, push, useServer } from './harness.js';
import { requires } from '../support/requires.js';

const SYSTEM_CA = '/etc/ssl/certs/ca-certificates.crt';

/** Fetches `url` with node's https and prints `got BODY` or `error CODE`. */
const fetchScript = (url: string) =>
  `require('https').get(${JSON.stringify(url)}, (r) => { let b = ''; r.on('data', (d) => (b += d)); r.on('end', () => console.log('got ' + b)); }).on('error', (e) => { console.log('error ' + (e.code || e.message)); process.exit(3); });`;
const pythonScript = (url: string) =>
  `import urllib.request; print('got ' + urllib.request.urlopen(${JSON.stringify(url)}).read().decode())`;

/**
 * Behind a TLS-intercepting proxy, apps must trust the server's extra CA
 * bundle (`--extra-ca-bundle`), in node and in OpenSSL's tools, whether or
 * not the app sets NODE_OPTIONS itself. Here the bundle is the system's CAs
 * plus a private root, and a local HTTPS server has a certificate from it.
 */
describe("e2e: apps trust the server's extra CA bundle", function () {
  this.timeout(180_000);
  const pki = makePki();
  const leaf = makeLeaf(pki, ['127.0.0.1']);
  const bundle = path.join(pki.dir, 'extra-ca.pem');
  fs.writeFileSync(bundle, (fs.existsSync(SYSTEM_CA) ? fs.readFileSync(SYSTEM_CA, 'utf8') : '') + fs.readFileSync(pki.root, 'utf8'));
  const env = useServer({ env: { SLIPWAY_EXTRA_CA_BUNDLE: bundle } });
  let site: https.Server;
  let url: string;

  before(async () => {
    site = https.createServer({ cert: fs.readFileSync(leaf.fullchain), key: fs.readFileSync(leaf.key) }, (_req, res) => res.end('trusted'));
    await new Promise<void>((r) => site.listen(0, '127.0.0.1', r));
    url = `https://127.0.0.1:${(site.address() as AddressInfo).port}/`;
    env.server.cli(['apps:create', 'trusting']);
    const r = await push(appRepo('procfile-hello'), env.server.sshRemote('trusting'), { sshCommand: env.key.sshCommand });
    expect(r.code, r.stderr).to.equal(0);
  });
  after(() => site?.close());

  it('node and python in a one-off trust it (process driver)', async () => {
    const node = await env.server.cliAsync(['run', 'trusting', '--', 'node', '-e', fetchScript(url)]);
    expect(node.stdout + node.stderr).to.include('got trusted');
    const python = await env.server.cliAsync(['run', 'trusting', '--', 'python3', '-c', pythonScript(url)]);
    expect(python.stdout + python.stderr).to.include('got trusted');
  });

  it('node still trusts it when the app sets NODE_OPTIONS itself, which it keeps', async () => {
    expect(env.server.cli(['config:set', 'trusting', 'NODE_OPTIONS=--max-old-space-size=96']).code).to.equal(0);
    const script = `console.log('heap ' + Math.round(require('v8').getHeapStatistics().heap_size_limit / 1048576)); ${fetchScript(url)}`;
    const node = await env.server.cliAsync(['run', 'trusting', '--', 'node', '-e', script]);
    expect(node.stdout + node.stderr).to.include('got trusted');
    expect(node.stdout).to.match(/heap (9[0-9]|1[0-4][0-9])\b/);
  });

  describe('in a container of the docker driver', () => {
    requires('stack');

    for (const appOptions of [undefined, '--max-old-space-size=96']) {
      it(`node and python trust it there too${appOptions ? ' (the app sets NODE_OPTIONS)' : ''}`, async () => {
        // The environment the docker driver gives a container, from what the pipeline hands it.
        const given = { PATH: process.env.PATH!, SSL_CERT_FILE: bundle, NODE_OPTIONS: appOptions ?? '--use-openssl-ca' };
        const vars = guestEnv(
          { app: 'trusting', release: 1, releaseDir: '/nonexistent', dataDir: '/nonexistent', env: given },
          {},
          { image: STACK_IMAGE, home: 'test', extraCaBundle: bundle },
        );
        const run = (argv: string[]) =>
          execa(
            'docker',
            [
              'run',
              '--rm',
              '--network',
              'host',
              '-v',
              `${bundle}:${CONTAINER_CA}:ro`,
              ...vars.flatMap((v) => ['-e', v]),
              STACK_IMAGE,
              ...argv,
            ],
            {
              reject: false,
            },
          );
        const node = await run(['node', '-e', fetchScript(url)]);
        expect(node.stdout + node.stderr).to.include('got trusted');
        const python = await run(['python3', '-c', pythonScript(url)]);
        expect(python.stdout + python.stderr).to.include('got trusted');
      });
    }
  });
});
