import { invalid } from '../errors.js';
import type { SecretBox } from '../secrets/box.js';
import type { Store, VendorAccount } from '../store/index.js';
import { VENDORS, checkVendor, checkVendorHost } from './kinds.js';
import { sealVendorToken } from './tokens.js';

/** What a user sees of an account: never the token. */
export interface VendorView {
  vendor: string;
  host: string;
  username: string;
  createdAt: number;
}

export const vendorView = (a: VendorAccount): VendorView => ({
  vendor: a.vendor,
  host: a.host,
  username: a.username,
  createdAt: a.createdAt,
});

/** `vendors:add` and `POST /api/v1/vendors`: checks, seals the token, stores (replacing the same vendor and host). */
export function addVendorAccount(
  store: Store,
  box: SecretBox,
  userId: number,
  opts: { vendor: string; token: string; host?: string; username?: string },
): VendorAccount {
  const vendor = checkVendor(opts.vendor);
  const host = opts.host ? checkVendorHost(opts.host) : VENDORS[vendor].host;
  const token = opts.token.trim();
  const username = opts.username ?? '';
  if (!token || token.length > 4096 || /[\s\0]/.test(token)) throw invalid('the token is one word of at most 4096 characters');
  if (username.length > 100 || /[\s\0:]/.test(username)) throw invalid('the user name is one word of at most 100 characters, without ":"');
  return store.vendors.put({ userId, vendor, host, username, token: sealVendorToken(box, { userId, vendor, host }, token) });
}
