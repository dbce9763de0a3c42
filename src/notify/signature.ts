import crypto from 'node:crypto';

/**
 * GitHub's webhook signature scheme: `sha256=` and the hex HMAC-SHA256 of the
 * raw request body, keyed with the webhook's secret. Receivers recompute it
 * over the bytes they got, before parsing them.
 */
export function sign(secret: string, body: string | Buffer): string {
  return `sha256=${crypto.createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Constant-time check of a `X-Slipway-Signature` header, as a receiver does it. */
export function verify(secret: string, body: string | Buffer, header: string | undefined): boolean {
  if (!header) return false;
  const expected = Buffer.from(sign(secret, body));
  const got = Buffer.from(header);
  return got.length === expected.length && crypto.timingSafeEqual(got, expected);
}

/** A fresh secret for a webhook the user gave none for: 160 bits, hex. */
export const newSecret = (): string => crypto.randomBytes(20).toString('hex');
