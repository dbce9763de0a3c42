import { expect } from 'chai';
import http from 'node:http';
import net from 'node:net';
import { waitForHttp } from '../../src/router/health.js';
import { SlipwayError } from '../../src/errors.js';

async function listen(handler: http.RequestListener): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, port: (server.address() as net.AddressInfo).port };
}

async function closedPort(): Promise<number> {
  const { server, port } = await listen(() => undefined);
  await new Promise((r) => server.close(r));
  return port;
}

describe('waitForHttp', function () {
  this.timeout(10_000);
  const servers: http.Server[] = [];

  after(async () => {
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  });

  it('accepts any answer below 500', async () => {
    const { server, port } = await listen((_req, res) => {
      res.statusCode = 404;
      res.end('not here');
    });
    servers.push(server);
    await waitForHttp({ port, timeoutMs: 2000 });
  });

  it('waits for a server that comes up late', async () => {
    const port = await closedPort();
    const late = setTimeout(() => {
      const server = http.createServer((_req, res) => res.end('ok'));
      servers.push(server);
      server.listen(port, '127.0.0.1');
    }, 300);
    await waitForHttp({ port, timeoutMs: 5000, intervalMs: 50 });
    clearTimeout(late);
  });

  it('fails with a clear SlipwayError after the timeout', async () => {
    const port = await closedPort();
    const err = await waitForHttp({ port, path: '/health', timeoutMs: 300, intervalMs: 50 }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(SlipwayError);
    expect((err as SlipwayError).code).to.equal('health_check_failed');
    expect((err as SlipwayError).message)
      .to.include(`http://127.0.0.1:${port}/health`)
      .and.include('ECONNREFUSED');
    expect((err as SlipwayError).hint).to.include('$PORT');
  });

  it('treats 5xx as unhealthy and checks expected content', async () => {
    const { server, port } = await listen((req, res) => {
      res.statusCode = req.url === '/broken' ? 503 : 200;
      res.end('hello world');
    });
    servers.push(server);
    const broken = await waitForHttp({ port, path: '/broken', timeoutMs: 200, intervalMs: 50 }).catch((e: unknown) => e);
    expect((broken as Error).message).to.include('HTTP 503');
    await waitForHttp({ port, timeoutMs: 1000, expectContent: 'hello' });
    const missing = await waitForHttp({ port, timeoutMs: 200, intervalMs: 50, expectContent: 'goodbye' }).catch((e: unknown) => e);
    expect((missing as Error).message).to.include('without "goodbye"');
  });

  it('stops early when aborted', async () => {
    const port = await closedPort();
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(new Error('instance died')), 100);
    const err = await waitForHttp({ port, timeoutMs: 60_000, intervalMs: 50, signal: ctl.signal }).catch((e: unknown) => e);
    expect((err as SlipwayError).code).to.equal('health_check_failed');
    expect((err as Error).message).to.include('aborted');
  });
});
