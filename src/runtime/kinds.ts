export const DRIVERS = ['process', 'docker', 'swarm'] as const;
export type DriverKind = (typeof DRIVERS)[number];

/**
 * The driver an app runs and builds with: its own `driver` setting
 * (`apps:set APP driver=docker`), else the server's default. Read at the
 * start of each deploy, so a change applies from the next one. The caller
 * reads the setting typed (`settingsOf(app).get('driver')`, apps/settings.ts):
 * the runtime sits below apps/, so the value comes down, never the raw text.
 */
export function driverFor(setting: DriverKind | undefined, serverDefault: DriverKind): DriverKind {
  return setting ?? serverDefault;
}

/** A stored driver name as a DriverKind; undefined when unset or not a driver this server has. */
export function parseDriver(raw: string | undefined): DriverKind | undefined {
  return (DRIVERS as readonly string[]).includes(raw ?? '') ? (raw as DriverKind) : undefined;
}
