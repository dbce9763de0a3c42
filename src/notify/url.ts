import { DEPLOY_EVENTS, WEBHOOK_EVENTS, type WebhookEventName } from './events.js';

export const MAX_URL_LENGTH = 2000;
export const MAX_SECRET_LENGTH = 256;

export type Invalid = (message: string, hint: string) => Error;

/** A receiver URL as stored: absolute http(s), at most 2000 characters. */
export function checkWebhookUrl(raw: string, invalid: Invalid): string {
  const shown = JSON.stringify(raw.length > 70 ? `${raw.slice(0, 67)}...` : raw);
  const hint = 'give an absolute http:// or https:// URL, like https://ci.example.com/hooks/slipway';
  if (raw.length > MAX_URL_LENGTH)
    throw invalid(`the webhook URL is ${raw.length} characters long; at most ${MAX_URL_LENGTH} are allowed`, hint);
  // The URL parser would quietly drop or encode these; a URL with them is a typo or an attack.
  if (/[\s\x00-\x1f\x7f]/.test(raw)) throw invalid(`the webhook URL ${shown} contains spaces or control characters`, hint);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalid(`${shown} is not a URL`, hint);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid(`${shown} is not an http(s) URL`, hint);
  if (!url.hostname) throw invalid(`${shown} names no host`, hint);
  if (url.href.length > MAX_URL_LENGTH) throw invalid(`the webhook URL is longer than ${MAX_URL_LENGTH} characters once normalised`, hint);
  return url.href;
}

/** A URL fit to print: a password in it is masked. */
export function displayUrl(stored: string): string {
  try {
    const url = new URL(stored);
    if (url.password) url.password = '***';
    return url.href;
  } catch {
    return stored;
  }
}

/** `deploy.succeeded,cert.failed` → the list, deduplicated; every name must be known. Default: the deploy events. */
export function parseEvents(raw: string | undefined, invalid: Invalid): WebhookEventName[] {
  if (raw === undefined) return [...DEPLOY_EVENTS];
  const names = [
    ...new Set(
      raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  ];
  const hint = `choose from ${WEBHOOK_EVENTS.join(', ')} (comma-separated)`;
  if (!names.length) throw invalid('--events names no event', hint);
  for (const n of names)
    if (!(WEBHOOK_EVENTS as readonly string[]).includes(n)) throw invalid(`unknown event ${JSON.stringify(n.slice(0, 40))}`, hint);
  return names as WebhookEventName[];
}

/** A secret the user chose: printable, 1 to 256 characters. */
export function checkSecret(secret: string, invalid: Invalid): string {
  const hint = `use 1 to ${MAX_SECRET_LENGTH} printable characters, or leave --secret out and one is generated`;
  if (!secret.length || secret.length > MAX_SECRET_LENGTH || /[\x00-\x1f\x7f]/.test(secret)) throw invalid('invalid webhook secret', hint);
  return secret;
}
