import { requires, type Need } from '../support/requires.js';
import { expect } from 'chai';
import fs from 'node:fs';
import { BuiltinRouter } from '../../src/router/builtin.js';
import type { AcmeChallenge } from '../../src/router/engine.js';
import { NginxRouter } from '../../src/router/nginx.js';
import type { RouterEngine as Router } from '../../src/router/engine.js';
import { backendOf, nginxStateDir, startBackend, stopBackend, type TestBackend } from '../router/support.js';
import { validateHttp01 } from './acme-probe.js';
import { startPebble, type Pebble } from './pebble.js';

type ChallengeRouter = Router & { address(): { host: string; port: number } | undefined; setChallenges(c: AcmeChallenge[]): Promise<void> };

const ENGINES: Array<{ name: string; make(): ChallengeRouter; stateDir?: string; needs?: Need[] }> = [
  { name: 'builtin', make: () => new BuiltinRouter() },
  {
    name: 'nginx',
    needs: ['nginx'],
    make() {
      this.stateDir = nginxStateDir();
      return new NginxRouter({ stateDir: this.stateDir, workerProcesses: 1 });
    },
  },
];

/** A real CA's validation authority fetching the router's challenge answers: pebble, as issue 13 asks. */
for (const engine of ENGINES)
  describe(`ACME HTTP-01 through the ${engine.name} router, validated by pebble`, function () {
    requires('pebble', ...(engine.needs ?? []));
    this.timeout(120_000);
    let router: ChallengeRouter;
    let pebble: Pebble;
    let app: TestBackend;

    before(async () => {
      app = await startBackend('app');
      router = engine.make();
      await router.listen(0, '127.0.0.1');
      // pebble's VA asks for every name at 127.0.0.1 (its DNS says so) on the router's port.
      pebble = await startPebble({ httpPort: router.address()!.port });
      await router.setRoute({ app: 'shop', hosts: ['shop.localhost', 'www.shop.test'], backends: [backendOf('shop', 1, 1, app)] });
    });

    after(async () => {
      await pebble?.stop();
      await router?.close();
      if (app) await stopBackend(app);
      if (engine.stateDir) fs.rmSync(engine.stateDir, { recursive: true, force: true });
    });

    it("gets an app's domain and a not-yet-routed name validated, the router answering before the app", async () => {
      const results = await validateHttp01({
        directory: pebble.directory,
        ca: pebble.apiCa,
        hosts: ['www.shop.test', 'new.shop.test'],
        present: (c) => router.setChallenges(c),
      });
      expect(results.sort((x, y) => x.host.localeCompare(y.host))).to.deep.equal([
        { host: 'new.shop.test', status: 'valid', error: undefined },
        { host: 'www.shop.test', status: 'valid', error: undefined },
      ]);
      expect(await pebble.root()).to.match(/^-----BEGIN CERTIFICATE-----/);
    });

    it('fails validation when the router has not been given the challenge (the app answers instead)', async () => {
      await router.setChallenges([]);
      const results = await validateHttp01({
        directory: pebble.directory,
        ca: pebble.apiCa,
        hosts: ['www.shop.test'],
        present: async () => undefined,
      });
      expect(results).to.have.length(1);
      expect(results[0]!.status).to.equal('invalid');
      expect(results[0]!.error).to.be.a('string').and.not.equal('');
    });
  });
