import http from 'node:http';
import { SlipwayError } from '../errors.js';

export interface WaitForHttpOptions {
  /** Default 127.0.0.1: instances listen on loopback. */
  host?: string;
  port: number;
  /** Default `/`. */
  path?: string;
  /** Give up after this long, counted from the call. */
  timeoutMs: number;
  /** Pause between attempts. Default 250ms. */
  intervalMs?: number;
  /** Stops waiting early, e.g. when the instance died during activation. */
  signal?: AbortSignal;
  /** When set, the body must contain this text (Dokku's CHECKS `content`). */
  expectContent?: string;
}

/** A single attempt never waits longer than this, so a hung app cannot eat the whole budget in one go. */
const ATTEMPT_MS = 2000;
const MIN_ATTEMPT_MS = 200;
/** How often, and for how long from the start, an app that does not answer yet is asked again before `intervalMs` applies. */
const EAGER_MS = 10;
const EAGER_FOR_MS = 1000;
/** Bodies are read only this far when looking for `expectContent`. */
const MAX_BODY = 1024 * 1024;

/**
 * Resolves once `GET http://host:port/path` answers below 500 (and, when
 * asked, with `expectContent` in the body). Any answer below 500 counts as
 * alive: a 404 or a 401 at `/` still means the app is serving, which is what
 * Heroku's router cares about.
 */
export async function waitForHttp(opts: WaitForHttpOptions): Promise<void> {
  const host = opts.host ?? '127.0.0.1';
  const path = opts.path ?? '/';
  const interval = opts.intervalMs ?? 250;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${opts.port}${path}`;
  const started = Date.now();
  const deadline = started + opts.timeoutMs;
  let attempts = 0;
  let last = 'no attempt made';

  for (;;) {
    if (opts.signal?.aborted) {
      throw new SlipwayError('health_check_failed', `health check of ${url} aborted after ${attempts} attempt(s); last result: ${last}`, {
        status: 502,
        cause: opts.signal.reason,
      });
    }
    attempts++;
    // A floor keeps the last attempt meaningful: a 1ms try would only report its own timeout.
    const budget = Math.min(ATTEMPT_MS, Math.max(MIN_ATTEMPT_MS, deadline - Date.now()));
    const result = await attempt({
      host,
      port: opts.port,
      path,
      timeoutMs: budget,
      signal: opts.signal,
      readBody: opts.expectContent !== undefined,
    });
    if (result.ok) {
      if (opts.expectContent === undefined || result.body.includes(opts.expectContent)) return;
      last = `HTTP ${result.status} without "${opts.expectContent}" in the body`;
    } else {
      last = result.error;
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    // Most apps listen within their first second: a check every `interval` then finds one up to a whole
    // interval late, and every deploy's switch waits for it. A refused connect on loopback costs next to nothing.
    const pause = Date.now() - started < EAGER_FOR_MS ? Math.min(interval, EAGER_MS) : interval;
    await sleep(Math.min(pause, remaining), opts.signal);
  }

  throw new SlipwayError(
    'health_check_failed',
    `no healthy answer from GET ${url} within ${opts.timeoutMs}ms (${attempts} attempt(s); last result: ${last})`,
    {
      status: 502,
      hint:
        opts.expectContent === undefined
          ? `the web process must listen on $PORT (${opts.port}) and answer HTTP; see the app's logs`
          : `the page at ${path} must contain "${opts.expectContent}"; see the app's logs`,
    },
  );
}

type AttemptResult = { ok: true; status: number; body: string } | { ok: false; error: string };

interface AttemptOptions {
  host: string;
  port: number;
  path: string;
  timeoutMs: number;
  signal?: AbortSignal;
  /** Without `expectContent` the status line is enough; a streaming `/` (SSE) would never end. */
  readBody: boolean;
}

function attempt(o: AttemptOptions): Promise<AttemptResult> {
  return new Promise((resolve) => {
    let settled = false;
    const onAbort = () => done({ ok: false, error: 'aborted' });
    const done = (r: AttemptResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
      req.destroy();
      resolve(r);
    };
    // A fresh connection per attempt (no agent): a pooled socket to a process
    // that just died would turn into a confusing ECONNRESET.
    const req = http.get(
      { host: o.host, port: o.port, path: o.path, agent: false, headers: { 'user-agent': 'slipway-health-check' } },
      (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 500) return done({ ok: false, error: `HTTP ${status}` });
        if (!o.readBody) return done({ ok: true, status, body: '' });
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (body.length < MAX_BODY) body += chunk;
        });
        res.on('end', () => done({ ok: true, status, body }));
        res.on('error', (err) => done({ ok: false, error: err.message }));
      },
    );
    const timer = setTimeout(() => done({ ok: false, error: `no answer within ${o.timeoutMs}ms` }), o.timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => done({ ok: false, error: err.code ?? err.message }));
    o.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(finish, ms);
    function finish() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', finish);
      resolve();
    }
    signal?.addEventListener('abort', finish, { once: true });
  });
}
