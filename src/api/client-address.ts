import { timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import net from 'node:net';

/**
 * The header the router sets on the server's own route (`--api-domain`),
 * holding a key only the daemon and its router know (Route.headers).
 */
export const ROUTER_KEY_HEADER = 'X-Slipway-Router';

/**
 * Where a request came from, for the audit log and the login throttle.
 * Through the router (`--api-domain`) the connection is the router's own,
 * and the client's address is the last entry the router appended to
 * X-Forwarded-For. That entry is believed only when the request carries the
 * router's key: anything on the host, an app included, can connect to the
 * API port and write any header, and a forged address would dodge the
 * throttle and lie in the audit log.
 */
export function clientAddress(req: http.IncomingMessage, routerKey: string | undefined): string {
  const socket = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
  if (!routerKey || !sameKey(req.headers[ROUTER_KEY_HEADER.toLowerCase()], routerKey)) return socket;
  const forwarded = req.headers['x-forwarded-for'];
  const last = (Array.isArray(forwarded) ? forwarded.join(',') : (forwarded ?? '')).split(',').pop()?.trim() ?? '';
  return net.isIP(last) ? last : socket;
}

function sameKey(sent: string | string[] | undefined, key: string): boolean {
  if (typeof sent !== 'string') return false;
  const a = Buffer.from(sent);
  const b = Buffer.from(key);
  return a.length === b.length && timingSafeEqual(a, b);
}
