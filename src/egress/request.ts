import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type tls from 'node:tls';
import { SlipwayError } from '../errors.js';
import { checkAddress, checkedLookup, egressError, type EgressSettings, type Target } from './policy.js';

export interface RequestOptions {
  url: URL;
  target: Target;
  settings: EgressSettings;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Fails the request at once when it fires (a stopping server, a cancelled deploy, the total timeout). */
  signal?: AbortSignal;
  /** The CAs an https server's chain may end at, made once by the caller (parsing a CA list per request is costly); default Node's. */
  secureContext?: tls.SecureContext;
}

/**
 * One HTTP exchange under the egress rules: only http and https; the address
 * connected to is the one the policy checked (a checking `lookup`, literal
 * addresses checked before); a connect and an idle timeout. Resolves with the
 * answer, whose body the caller reads; errors on it later (idle, abort) are
 * `egress_refused` SlipwayErrors naming the setting and the rule.
 */
export function egressRequest(opts: RequestOptions): Promise<http.IncomingMessage> {
  const { url, target, settings } = opts;
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return Promise.reject(
      egressError(target, `is a ${url.protocol.replace(/:$/, '')} URL; only http and https are fetched`, 'use an http:// or https:// URL'),
    );
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  try {
    // net.connect skips `lookup` for a literal address, so it is checked here.
    if (net.isIP(host)) checkAddress(settings, host, target);
  } catch (err) {
    return Promise.reject(err);
  }
  return new Promise((resolve, reject) => {
    const client = url.protocol === 'https:' ? https : http;
    const req = client.request(url, {
      method: opts.method ?? 'GET',
      agent: false,
      headers: { ...opts.headers, ...(opts.body !== undefined ? { 'Content-Length': String(Buffer.byteLength(opts.body)) } : {}) },
      lookup: checkedLookup(settings, target) as never,
      ...(opts.secureContext && url.protocol === 'https:' ? { secureContext: opts.secureContext } : {}),
    });
    let response: http.IncomingMessage | undefined;
    const fail = (err: Error) => {
      cleanup();
      // Once the answer is being read, its stream carries the error to whoever reads it.
      if (response) response.destroy(err);
      else req.destroy(err);
      reject(err);
    };
    const connectTimer = setTimeout(
      () =>
        fail(
          egressError(
            target,
            `did not connect within ${settings.connectTimeoutMs / 1000}s (egress connect timeout)`,
            'check that the host is up and reachable from the server',
          ),
        ),
      settings.connectTimeoutMs,
    );
    const onAbort = () => fail(abortError(target, opts.signal!));
    const cleanup = () => {
      clearTimeout(connectTimer);
      opts.signal?.removeEventListener('abort', onAbort);
    };
    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    req.on('socket', (socket) => socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', () => clearTimeout(connectTimer)));
    // A socket timeout is silence in either direction: no answer, or a body that stopped coming.
    req.setTimeout(settings.idleTimeoutMs, () =>
      fail(
        egressError(
          target,
          `sent nothing for ${settings.idleTimeoutMs / 1000}s (egress idle timeout); the transfer stalled`,
          'check the server that answers this URL',
        ),
      ),
    );
    req.on('error', (err: NodeJS.ErrnoException) => {
      cleanup();
      reject(
        err instanceof SlipwayError
          ? err
          : egressError(target, `could not be reached: ${err.code ?? err.message}`, 'check that the URL is right and its server is up'),
      );
    });
    req.on('response', (res) => {
      response = res;
      clearTimeout(connectTimer);
      res.once('close', cleanup);
      // An error after the answer came goes to the body's reader; this keeps it from being unhandled here.
      res.on('error', () => undefined);
      resolve(res);
    });
    req.end(opts.body);
  });
}

function abortError(target: Target, signal: AbortSignal): SlipwayError {
  const reason = signal.reason;
  if (reason instanceof SlipwayError) return reason;
  return egressError(target, 'was cancelled: the deploy or the server stopped');
}
