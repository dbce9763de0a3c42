import type { Driver } from './driver.js';
import { ProcessDriver } from './process/index.js';
import { DockerDriver } from './docker/driver.js';
import { SwarmDriver, type SwarmDriverOptions } from './swarm/driver.js';
import { connectEngine } from '../docker/engine.js';
import { DriverMultiplexer } from './multiplexer.js';
import type { App, Store } from '../store/index.js';
import type { GuestHost } from '../guest/host.js';

import type { DriverKind } from './kinds.js';

export { DRIVERS, driverFor, type DriverKind } from './kinds.js';
export { DriverMultiplexer } from './multiplexer.js';

export interface DriverSelection {
  kind: DriverKind;
  log: (msg: string) => void;
  /** SLIPWAY_HOME; the docker driver labels what it creates with its hash. */
  home: string;
  /** Process driver's pid files (orphans of a crashed daemon are reaped). */
  stateDir: string;
  extraCaBundle?: string;
  /** The process driver's guests (see src/guest/); absent when the server cannot make them. */
  guests?: GuestHost;
  /** How long the docker driver's standby containers wait for an app's next release (0: none). */
  standbyKeepMs?: number;
  /** The swarm driver: the registry, the nodes' engines, re-routing as tasks move. */
  swarm?: Pick<SwarmDriverOptions, 'registry' | 'nodeEngine' | 'onMoved' | 'stopGraceMs'>;
}

/** One driver of one kind; a missing engine fails here with its one clear line. */
export async function createDriver(sel: DriverSelection): Promise<Driver> {
  if (sel.kind === 'swarm')
    return SwarmDriver.create({ docker: connectEngine(), home: sel.home, extraCaBundle: sel.extraCaBundle, log: sel.log, ...sel.swarm });
  if (sel.kind === 'docker')
    return DockerDriver.create({
      docker: connectEngine(),
      home: sel.home,
      extraCaBundle: sel.extraCaBundle,
      log: sel.log,
      standbyKeepMs: sel.standbyKeepMs,
    });
  return new ProcessDriver({ log: sel.log, stateDir: sel.stateDir, guests: sel.guests });
}

/**
 * The daemon's runtime: the server default's driver now (so `slipway server
 * --driver docker` without an engine fails before anything listens), any
 * other kind when an app first needs it.
 */
export function createRuntime(
  sel: DriverSelection & { store: Store; appDriver: (app: App) => DriverKind | undefined },
): Promise<DriverMultiplexer> {
  return DriverMultiplexer.create({
    store: sel.store,
    appDriver: sel.appDriver,
    serverDefault: sel.kind,
    log: sel.log,
    create: (kind) => createDriver({ ...sel, kind }),
  });
}
