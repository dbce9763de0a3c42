import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { NginxRouter } from '../../src/router/nginx.js';
import { echoOf, nginxStateDir, request, startBackend, stopBackend, type TestBackend } from './support.js';
import { requires } from '../support/requires.js';

/** Every file under dir, with its mode. */
function files(dir: string): Array<{ file: string; mode: number }> {
  return fs
    .readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => {
      const file = path.join(e.parentPath, e.name);
      return { file, mode: fs.statSync(file).mode & 0o777 };
    });
}

/**
 * The platform route's router key (Route.headers) is written into nginx's
 * config: whoever reads it can send the API any client address (dodging the
 * login throttle, lying in the audit log). The files are the daemon's and
 * nginx's master's alone, whatever the mode of the directory they are in.
 */
describe('NginxRouter: config files holding a route header', function () {
  this.timeout(30_000);
  requires('nginx');
  let stateDir: string;
  let router: NginxRouter;
  let api: TestBackend;
  const KEY = 'Zk3y-of-the-router_0123456789abcdefghijklmn';

  before(async () => {
    api = await startBackend('api');
    stateDir = nginxStateDir();
    // A home an operator made with `mkdir` (0755): the files must not rely on it.
    fs.chmodSync(stateDir, 0o755);
    router = new NginxRouter({ stateDir, workerProcesses: 1 });
    await router.listen(0, '127.0.0.1');
  });

  after(async () => {
    await router?.close();
    if (api) await stopBackend(api);
    if (stateDir) fs.rmSync(stateDir, { recursive: true, force: true });
  });

  it('are readable by their owner only, and nginx still serves the route with the header', async () => {
    await router.setRoute({
      app: '_slipway',
      hosts: ['paas.localhost'],
      backends: [{ id: '_slipway.api', host: '127.0.0.1', port: api.port }],
      headers: { 'X-Slipway-Router': KEY },
    });
    const holding = files(stateDir).filter((f) => fs.readFileSync(f.file, 'utf8').includes(KEY));
    expect(holding.map((f) => path.relative(stateDir, f.file))).to.include(path.join('live', 'apps', '_slipway.conf'));
    for (const f of holding) expect(f.mode & 0o077, `${f.file} is ${f.mode.toString(8)}`).to.equal(0);
    const seen = echoOf(await request(router.address()!.port, 'paas.localhost')).headers;
    expect(seen['x-slipway-router']).to.equal(KEY);
  });
});
