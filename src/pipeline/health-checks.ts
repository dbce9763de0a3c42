import http from 'node:http';
import { DeployError } from '../errors.js';
import type { Instance } from '../runtime/driver.js';
import { waitForHttp } from '../router/health.js';
import { isPortOpen } from '../runtime/ports.js';
import type { HealthCheck } from './app-json.js';
import type { Services } from './context.js';

export interface HealthOptions {
  /** Overall limit for the default check (the port answering HTTP). */
  timeoutMs: number;
  signal: AbortSignal;
  /** app.json checks; when empty, the port answering any HTTP status below 500 is enough. */
  checks?: HealthCheck[];
}

/**
 * Waits until every new `web` instance passes its checks. An instance that
 * exits meanwhile fails the wait at once, instead of after the whole timeout.
 */
export async function awaitHealthy(services: Services, app: string, instances: Instance[], opts: HealthOptions): Promise<void> {
  const web = instances.filter((i) => i.type === 'web' && i.port);
  const unsubscribes: Array<() => void> = [];
  const died = new Promise<never>((_, reject) => {
    for (const i of instances) {
      unsubscribes.push(
        services.driver.onExit(i.id, (code, signal) =>
          reject(
            new DeployError(`${i.type}.${i.index} exited with ${signal ? `signal ${signal}` : `status ${code}`} before it was healthy`, {
              app,
              release: i.release,
              exitCode: code ?? undefined,
              hint: `check its output above or with \`slipway logs ${app}\`; the process must keep running and listen on $PORT`,
            }),
          ),
        ),
      );
    }
  });
  died.catch(() => {});
  const check = async (i: Instance) => {
    if (!opts.checks?.length) {
      await waitForHttp({ host: i.host, port: i.port!, timeoutMs: opts.timeoutMs, signal: opts.signal, intervalMs: 50 });
    } else {
      // app.json's attempts count answers, not the seconds a process takes to start listening (a guest, a slow boot).
      await waitForListener(i.host ?? '127.0.0.1', i.port!, opts.timeoutMs, opts.signal);
      await runChecks(app, i, opts.checks, opts.signal);
    }
    await confirmOwnListener(services, app, i);
  };
  try {
    await Promise.race([died, Promise.all(web.map(check))]);
  } finally {
    for (const u of unsubscribes) u();
  }
}

/**
 * What answered the checks must be the instance itself: in a guest another
 * app could hold its port. Once confirmed the instance is up, and the router's
 * first request to it need not look again.
 */
async function confirmOwnListener(services: Services, app: string, i: Instance): Promise<void> {
  if ((await services.driver.confirmUp?.(i.id)) !== false) return;
  throw new DeployError(`${i.type}.${i.index} did not pass its health check: the process listening on port ${i.port} is not its own`, {
    app,
    release: i.release,
    hint: `another process holds the port; \`slipway ps ${app}\` shows whether ${i.type}.${i.index} is still running`,
  });
}

async function runChecks(app: string, instance: Instance, checks: HealthCheck[], signal: AbortSignal): Promise<void> {
  for (const c of checks) {
    await sleep(c.initialDelay * 1000, signal);
    let last = '';
    let passed = false;
    for (let attempt = 1; attempt <= c.attempts && !passed; attempt++) {
      const r = await get(instance.host ?? '127.0.0.1', instance.port!, c.path, c.timeout * 1000).catch((err: Error) => ({
        status: 0,
        body: '',
        error: err.message,
      }));
      if (r.status >= 200 && r.status < 400 && (c.content === undefined || r.body.includes(c.content))) passed = true;
      else {
        last = r.status
          ? `answered ${r.status}${c.content !== undefined && !r.body.includes(c.content) ? ` without "${c.content}"` : ''}`
          : `failed (${(r as { error?: string }).error})`;
        if (attempt < c.attempts) await sleep(c.wait * 1000, signal);
      }
    }
    if (!passed) {
      throw new DeployError(
        `health check "${c.name}" failed for ${instance.type}.${instance.index}: GET ${c.path} ${last} after ${c.attempts} attempt${c.attempts === 1 ? '' : 's'}`,
        {
          app,
          release: instance.release,
          hint: 'fix the app or its healthchecks in app.json',
        },
      );
    }
  }
}

function get(host: string, port: number, path: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path, timeout: timeoutMs, headers: { 'user-agent': 'slipway-healthcheck' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        if (body.length < 1_000_000) body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs / 1000}s`)));
    req.on('error', reject);
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), reject(signal.reason)), { once: true });
  });
}

/** Resolves once something accepts connections on the port, or at the deadline (the checks then say why). */
async function waitForListener(host: string, port: number, timeoutMs: number, signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !signal.aborted) {
    if (await isPortOpen(port, host, 1000)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}
