import type { App } from '../store/index.js';

export const DRIVERS = ['process', 'docker'] as const;
export type DriverKind = (typeof DRIVERS)[number];

/**
 * The driver an app runs and builds with: its own `driver` setting
 * (`apps:set APP driver=docker`), else the server's default. Read at the
 * start of each deploy, so a change applies from the next one.
 */
export function driverFor(app: App, serverDefault: DriverKind): DriverKind {
  const own = app.settings.driver;
  return (DRIVERS as readonly string[]).includes(own ?? '') ? (own as DriverKind) : serverDefault;
}
