/**
 * Secret config values are kept sealed (see src/secrets/) everywhere a config
 * map goes. The prefix starts with a NUL byte, which no config value may
 * contain, so a sealed value can never be mistaken for a plain one; the store
 * keeps it out of the database as a flag (config_vars.secret) or a
 * `{"secret": …}` object (release snapshots).
 */
export const SEALED_PREFIX = '\u0000sealed:';

export const isSealed = (value: string): boolean => value.startsWith(SEALED_PREFIX);
