import type { Driver } from './driver.js';
import { ProcessDriver } from './process/index.js';
import { DockerDriver } from './docker/driver.js';
import { connectEngine } from './docker/engine.js';

import type { DriverKind } from './kinds.js';

export { DRIVERS, driverFor, type DriverKind } from './kinds.js';

/** A driver plus what the daemon does once every live app is back: drop what nothing adopted. */
export type RuntimeDriver = Driver & { sweep?(): Promise<void> };

export interface DriverSelection {
  kind: DriverKind;
  log: (msg: string) => void;
  /** Process driver's pid files (orphans of a crashed daemon are reaped). */
  stateDir: string;
  extraCaBundle?: string;
}

/** The server-wide driver; a missing engine fails here, before anything listens. */
export async function createDriver(sel: DriverSelection): Promise<RuntimeDriver> {
  if (sel.kind === 'docker') return DockerDriver.create({ docker: connectEngine(), extraCaBundle: sel.extraCaBundle, log: sel.log });
  return new ProcessDriver({ log: sel.log, stateDir: sel.stateDir });
}
