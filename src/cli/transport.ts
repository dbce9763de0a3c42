import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { Readable } from 'node:stream';
import tls from 'node:tls';

/** How the remote CLI may reach a server: whom to trust over HTTPS, whether plain HTTP to another host is allowed. */
export interface Transport {
  /** PEM of private CAs trusted besides Node's own roots (`--ca FILE`). */
  ca?: string;
  /** `--insecure`: send a token over plain http:// to a host that is not this one. */
  insecure?: boolean;
}

const LOOPBACK = new net.BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** 127.0.0.0/8 (IPv4-mapped too), ::1 and `localhost`: a token sent there never leaves the machine. */
export function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost') return true;
  const family = net.isIP(host);
  return family !== 0 && LOOPBACK.check(host, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * Refuses, before any connection is made, to send a credential over plain
 * HTTP to a host other than this one: anyone on the way could read it and
 * act as its user. `--insecure` is the operator saying the network is theirs.
 */
export function checkTransport(url: string, transport: Transport, what = 'a token'): void {
  const u = new URL(url);
  if (u.protocol !== 'http:' || transport.insecure || isLoopback(u.hostname)) return;
  throw new Error(
    `refusing to send ${what} to ${u.origin} over plain http://, where anyone on the way can read it; use the server's https:// address (its --api-domain), or add --insecure if you trust every network in between`,
  );
}

export interface SendInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

/**
 * One HTTP(S) request, answered as a fetch Response. Not fetch itself:
 * Node's fetch cannot be given a CA without the undici package. The
 * certificate is always verified, against Node's roots plus `--ca`.
 */
export function send(url: string, init: SendInit, transport: Transport): Promise<Response> {
  checkTransport(url, transport, init.headers?.authorization ? 'a token' : 'a password');
  const u = new URL(url);
  const body = init.body === undefined ? undefined : Buffer.from(init.body);
  const options: https.RequestOptions = {
    method: init.method ?? 'GET',
    headers: { ...init.headers, ...(body ? { 'content-length': String(body.length) } : {}) },
    ...(u.protocol === 'https:' && transport.ca ? { ca: [...tls.rootCertificates, transport.ca] } : {}),
  };
  const request = u.protocol === 'https:' ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const req = request(u, options, (res) => {
      const status = res.statusCode ?? 502;
      const headers = new Headers();
      for (const [name, value] of Object.entries(res.headers)) for (const v of [value ?? []].flat()) headers.append(name, v);
      const empty = status === 204 || status === 304 || init.method === 'HEAD';
      if (empty) res.resume();
      resolve(new Response(empty ? null : (Readable.toWeb(res) as ReadableStream), { status, statusText: res.statusMessage, headers }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => reject(reachError(u, err)));
    req.end(body);
  });
}

/** One line: an untrusted certificate says what to do about it; anything else which connection failed. */
function reachError(u: URL, err: NodeJS.ErrnoException): Error {
  const code = err.code ?? err.message;
  if (/CERT|SIGNATURE|ALTNAME|ISSUER/.test(code))
    return new Error(
      `the certificate of ${u.origin} is not trusted (${code}: ${err.message}); for a private CA give its certificate with --ca FILE`,
    );
  return new Error(`cannot reach ${u.origin} (${code}); check the URL, or log out to use the local server`);
}
