import type http from 'node:http';
import { egressRequest } from './request.js';
import { egressError, shownUrl, type EgressSettings, type Target } from './policy.js';

export interface GetOptions {
  url: URL;
  target: Target;
  settings: EgressSettings;
  signal?: AbortSignal;
  /** Hops followed at most; default 5. */
  maxRedirects?: number;
}

export interface Got {
  /** The 2xx answer: read its body (errors arrive on it). */
  response: http.IncomingMessage;
  /** Content-Length, when the server sent one. */
  length?: number;
  /** Stops the total timer; call once the body is read or given up. */
  done(): void;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * A GET that follows redirects itself, so every hop is checked like the
 * first (scheme, resolved address), under one total timeout, and refuses a
 * body larger than the size limit when the server announces it.
 */
export async function egressGet(opts: GetOptions): Promise<Got> {
  const { settings, target } = opts;
  const total = new AbortController();
  const timer = setTimeout(
    () =>
      total.abort(
        egressError(
          target,
          `took longer than ${settings.totalTimeoutMs / 1000}s (egress total timeout)`,
          'make the file smaller or the server faster, or ask an admin to raise --egress-total-timeout',
        ),
      ),
    settings.totalTimeoutMs,
  );
  const signal = opts.signal ? AbortSignal.any([opts.signal, total.signal]) : total.signal;
  const done = () => clearTimeout(timer);
  let url = opts.url;
  try {
    for (let hop = 0; ; hop++) {
      const hopTarget = hop === 0 ? target : { ...target, url: `${shownUrl(target.url)} (redirected to ${shownUrl(url.href)})` };
      const response = await egressRequest({ url, target: hopTarget, settings, signal });
      const status = response.statusCode ?? 0;
      const location = response.headers.location;
      if (REDIRECTS.has(status) && location) {
        response.destroy();
        if (hop >= (opts.maxRedirects ?? 5))
          throw egressError(target, `redirects more than ${opts.maxRedirects ?? 5} times`, 'point the setting at the final URL');
        try {
          url = new URL(location, url);
        } catch {
          throw egressError(hopTarget, 'redirects to something that is not a URL');
        }
        continue;
      }
      if (status < 200 || status > 299) {
        response.destroy();
        throw egressError(hopTarget, `answered ${status} ${response.statusMessage ?? ''}`.trimEnd(), 'check that the URL is right');
      }
      const length = response.headers['content-length'] === undefined ? undefined : Number(response.headers['content-length']);
      if (length !== undefined && length > settings.maxBytes) {
        response.destroy();
        throw egressError(hopTarget, `is ${length} bytes, more than the ${settings.maxBytes} bytes allowed (the server's --max-upload-mb)`);
      }
      response.once('close', done);
      return { response, length, done };
    }
  } catch (err) {
    done();
    throw err;
  }
}
