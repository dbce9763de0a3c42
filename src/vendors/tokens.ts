import type { SecretBox } from '../secrets/box.js';
import type { VendorAccount } from '../store/index.js';

/**
 * Vendor tokens are sealed by the same box as secret config values, bound to
 * the user and the account (the box's additional data), so a sealed token
 * copied to another user's row does not open.
 */
const boxName = (userId: number) => `user:${userId}`;
const varName = (vendor: string, host: string) => `vendor:${vendor}:${host}`;

export const sealVendorToken = (box: SecretBox, a: { userId: number; vendor: string; host: string }, token: string): string =>
  box.seal(boxName(a.userId), varName(a.vendor, a.host), token);

export const openVendorToken = (box: SecretBox, a: VendorAccount): string =>
  box.open(boxName(a.userId), varName(a.vendor, a.host), a.token);

/** The name an app's webhook secret is sealed under (the box binds it to the app). */
export const HOOK_SECRET = 'hook:secret';
