import type { App } from '../store/index.js';

export const DRIVERS = ['process', 'docker'] as const;
export type DriverKind = (typeof DRIVERS)[number];

/**
 * The driver an app runs and builds with: its own `driver` setting
 * (`apps:set APP driver=docker`), else the server's default. Read at the
 * start of each deploy, so a change applies from the next one.
 */
export function driverFor(app: App, serverDefault: DriverKind): DriverKind {
  // The runtime sits below apps/settings.ts (which imports DRIVERS from here), so it reads the one key itself, with the same decoder.
  return parseDriver(app.settings.driver) ?? serverDefault;
}

/** A stored driver name as a DriverKind; undefined when unset or not a driver this server has. */
export function parseDriver(raw: string | undefined): DriverKind | undefined {
  return (DRIVERS as readonly string[]).includes(raw ?? '') ? (raw as DriverKind) : undefined;
}
