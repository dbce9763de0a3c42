import crypto from 'node:crypto';

/**
 * File URLs and host paths in settings are the admin's to set. Members are
 * refused when they set one; and at use time such a value is followed only if
 * it is exactly the value an admin set. Setting a value records whether an
 * admin set it (a fingerprint in the app's settings under `admin_set.KEY`), so
 * a member's later change, a transfer of the app, or any other way the value
 * could have been written never inherits the admin's trust.
 */
export const trustKey = (key: string) => `admin_set.${key}`;

const fingerprint = (value: string) => crypto.createHash('sha256').update(value).digest('hex');

/** The app setting to write along with `key = value`: the fingerprint when an admin set it, else removed. */
export function trustEntry(key: string, value: string | undefined, byAdmin: boolean): [string, string | undefined] {
  return [trustKey(key), byAdmin && value !== undefined ? fingerprint(value) : undefined];
}

/** True when `value` is the value of `key` an admin set. */
export function setByAdmin(settings: Readonly<Record<string, string>>, key: string, value: string): boolean {
  return settings[trustKey(key)] === fingerprint(value);
}
