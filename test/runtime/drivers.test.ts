import Docker from 'dockerode';
import { homeId } from '../../src/docker/labels.js';
import { connectEngine } from '../../src/docker/engine.js';
import { GuestHost } from '../../src/guest/host.js';
import { DockerDriver } from '../../src/runtime/docker/driver.js';
import { DriverMultiplexer } from '../../src/runtime/multiplexer.js';
import { ProcessDriver } from '../../src/runtime/process/index.js';
import path from 'node:path';
import { Store } from '../../src/store/index.js';
import { settingsOf } from '../../src/apps/settings.js';
import { removeFromEngine } from '../support/engine-cleanup.js';
import { driverContract } from './driver-contract.js';

// Both drivers as the daemon makes them (runtime/select.ts), guests on: the tests run as root.
driverContract('process', {
  needs: ['guests'],
  create: async (home) =>
    new ProcessDriver({ guests: await GuestHost.create({ home }), portRange: [30300, 30399], restart: { initialMs: 100, maxMs: 1000 } }),
});

driverContract('docker', {
  needs: ['docker', 'stack'],
  removesApps: true,
  create: (home) => DockerDriver.create({ docker: connectEngine(), home, portRange: [30400, 30499] }),
  // shutdown detaches (containers are adopted by the next daemon): what is left goes here.
  cleanup: (home) => removeFromEngine(connectEngine() as Docker, [`slipway.home=${homeId(home)}`]),
});

// The daemon's one Driver (runtime/multiplexer.ts) must keep the same promises while it forwards them.
driverContract('multiplexer', {
  needs: ['guests'],
  create: async (home) =>
    DriverMultiplexer.create({
      store: Store.open(path.join(home, 'slipway.db')),
      serverDefault: 'process',
      appDriver: (app) => settingsOf(app).get('driver'),
      create: async () =>
        new ProcessDriver({
          guests: await GuestHost.create({ home }),
          portRange: [30500, 30599],
          restart: { initialMs: 100, maxMs: 1000 },
        }),
    }),
});
