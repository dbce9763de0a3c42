import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Services } from '../../src/pipeline/context.js';
import { Store, type App, type Mode } from '../../src/store/index.js';
import { Layout } from '../../src/store/layout.js';
import { FakeDriver, FakeRouter } from './fake-runtime.js';

/** A real store and data directory with the fake driver and router: enough to run the queue and the runner in-process. */
export interface DeployWorld {
  home: string;
  store: Store;
  layout: Layout;
  services: Services;
  driver: FakeDriver;
  router: FakeRouter;
  newApp(name: string, mode?: Mode): App;
  close(): void;
}

/** `webPort`: where every fake web instance "listens" (a real port answering HTTP when health checks must pass). */
export function deployWorld(webPort = 1): DeployWorld {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-deploy-world-'));
  const store = Store.open(path.join(home, 'slipway.db'));
  const layout = new Layout(home);
  const driver = new FakeDriver(webPort);
  const router = new FakeRouter(driver);
  driver.router = router;
  const owner = store.users.add('owner', 'member');
  const services = {
    store,
    layout,
    driver,
    router,
    settings: {
      domain: 'test.localhost',
      routerPort: 80,
      buildpacksDir: '/nonexistent',
      keepReleases: 5,
      keepBackups: 2,
      healthTimeoutMs: 1000,
      stopGraceMs: 0,
      defaultDriver: 'process',
    },
  } as unknown as Services;
  return {
    home,
    store,
    layout,
    services,
    driver,
    router,
    newApp: (name, mode = 'cooking') =>
      store.apps.create({ name, ownerId: owner.id, env: mode === 'editable' ? 'dev' : mode === 'final' ? 'prod' : 'staging', mode }),
    close: () => {
      store.close();
      fs.rmSync(home, { recursive: true, force: true });
    },
  };
}
