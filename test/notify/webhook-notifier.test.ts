import { expect } from 'chai';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_EGRESS } from '../../src/egress/index.js';
import { deployEvent, type DeployEvent } from '../../src/notify/events.js';
import { verify } from '../../src/notify/signature.js';
import { WebhookNotifier } from '../../src/notify/webhook-notifier.js';
import { Store } from '../../src/store/index.js';
import { until } from '../support/wait.js';

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
  at: number;
}

/** A receiver that answers each request with the next of `answers` (the last one repeats). */
async function receiver(answers: Array<number | ((res: http.ServerResponse) => void)>) {
  const got: Received[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      got.push({ headers: req.headers, body, at: Date.now() });
      const answer = answers[Math.min(got.length - 1, answers.length - 1)]!;
      if (typeof answer === 'function') return answer(res);
      res.writeHead(answer).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return {
    got,
    url,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe('notify/webhook-notifier', () => {
  let dir: string;
  let store: Store;
  let appId: number;
  const notifiers: WebhookNotifier[] = [];
  const closers: Array<() => Promise<void>> = [];

  const event = (over: Partial<Parameters<typeof deployEvent>[0]> = {}): DeployEvent =>
    deployEvent({
      app: 'hooky',
      jobId: jobId(),
      kind: 'push',
      mode: 'cooking',
      release: 2,
      commit: 'abc',
      failure: { stage: 'configure', error: 'boom' },
      startedAt: Date.now() - 50,
      ...over,
    });
  const jobId = () =>
    store.jobs.create({ appId, kind: 'push', mode: 'cooking', commit: null, userName: 'admin', params: {}, logPath: () => '/dev/null' }).id;
  const notifier = (opts: Partial<ConstructorParameters<typeof WebhookNotifier>[0]> = {}) => {
    // The receivers listen on loopback: allowed here, as an admin would allow an internal range.
    const n = new WebhookNotifier({
      store,
      retry: { attempts: 3, baseDelayMs: 20 },
      egress: { ...DEFAULT_EGRESS, allow: ['127.0.0.1/32'] },
      ...opts,
    });
    notifiers.push(n);
    return n;
  };
  const serve = async (answers: Parameters<typeof receiver>[0]) => {
    const r = await receiver(answers);
    closers.push(r.close);
    return r;
  };

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-notify-'));
    store = Store.open(path.join(dir, 'slipway.db'));
    const owner = store.users.add('owner', 'member');
    appId = store.apps.create({ name: 'hooky', ownerId: owner.id, env: 'staging', mode: 'cooking' }).id;
  });
  afterEach(async () => {
    for (const n of notifiers.splice(0)) await n.stop();
    for (const c of closers.splice(0)) await c();
    store.close();
  });

  it('POSTs the event as signed JSON with the documented headers, and records the delivery', async () => {
    const r = await serve([200]);
    const hook = store.webhooks.add({ appId, url: r.url, events: ['deploy.succeeded', 'deploy.failed'], secret: 's3cret' });
    const n = notifier();
    n.start();
    const e = event();
    n.deployEnded(e);
    await until('the POST', () => r.got.length === 1);
    const { headers, body } = r.got[0]!;
    expect(JSON.parse(body)).to.deep.equal(e);
    expect(headers['content-type']).to.equal('application/json');
    expect(headers['user-agent']).to.equal('Slipway-Hookshot');
    expect(headers['x-slipway-event']).to.equal('deploy.failed');
    expect(headers['x-slipway-delivery']).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(verify('s3cret', body, headers['x-slipway-signature'] as string)).to.equal(true);
    await until('the record', () => store.webhooks.deliveries(appId)[0]?.state === 'delivered');
    const d = store.webhooks.deliveries(appId, hook.id)[0]!;
    expect(d).to.include({
      uuid: headers['x-slipway-delivery'],
      attempts: 1,
      lastStatus: 200,
      lastError: null,
      nextAttemptAt: null,
      event: 'deploy.failed',
      jobId: e.job_id,
    });
    expect(d.deliveredAt).to.be.a('number');
  });

  it('sends only the events a webhook asked for', async () => {
    const r = await serve([200]);
    store.webhooks.add({ appId, url: r.url, events: ['deploy.succeeded'], secret: 'x' });
    const n = notifier();
    n.start();
    n.deployEnded(event());
    n.deployEnded(event({ failure: undefined, release: 5 }));
    await until('the POST', () => r.got.length === 1);
    await new Promise((res) => setTimeout(res, 100));
    expect(r.got).to.have.length(1);
    expect(JSON.parse(r.got[0]!.body)).to.include({ event: 'deploy.succeeded', release: 5 });
  });

  it('retries a non-2xx answer with backoff, the same delivery id and body each time, until one succeeds', async () => {
    const r = await serve([500, 503, 200]);
    store.webhooks.add({ appId, url: r.url, events: ['deploy.failed'], secret: 's' });
    const n = notifier({ retry: { attempts: 5, baseDelayMs: 60 } });
    n.start();
    n.deployEnded(event());
    await until('three attempts', () => r.got.length === 3);
    await until('the record', () => store.webhooks.deliveries(appId)[0]?.state === 'delivered');
    expect(new Set(r.got.map((g) => g.headers['x-slipway-delivery'])).size).to.equal(1);
    expect(new Set(r.got.map((g) => g.body)).size).to.equal(1);
    // Waits of 60 ms, then 120 ms: each gap at least its backoff.
    expect(r.got[1]!.at - r.got[0]!.at).to.be.at.least(55);
    expect(r.got[2]!.at - r.got[1]!.at).to.be.at.least(115);
    expect(store.webhooks.deliveries(appId)[0]).to.include({ attempts: 3, lastStatus: 200, lastError: null });
  });

  it('gives up after the last attempt and keeps the last status and error', async () => {
    const r = await serve([500]);
    store.webhooks.add({ appId, url: r.url, events: ['deploy.failed'], secret: 's' });
    const n = notifier();
    n.start();
    n.deployEnded(event());
    await until('the failure', () => store.webhooks.deliveries(appId)[0]?.state === 'failed');
    expect(r.got).to.have.length(3);
    const d = store.webhooks.deliveries(appId)[0]!;
    expect(d).to.include({ attempts: 3, lastStatus: 500, nextAttemptAt: null, deliveredAt: null });
    // The receiver answered "ok": its words are not recorded, only status and timing.
    expect(d.lastError).to.match(/^HTTP 500 after \d+\.\d\ds$/);
    expect(n.busy).to.equal(false);
  });

  it('counts a refused connection and a timeout as failed attempts', async () => {
    const slow = await serve([() => undefined]);
    const closed = await receiver([200]);
    await closed.close();
    store.webhooks.add({ appId, url: closed.url, events: ['deploy.failed'], secret: 's' });
    store.webhooks.add({ appId, url: slow.url, events: ['deploy.failed'], secret: 's' });
    const n = notifier({ retry: { attempts: 1, baseDelayMs: 10 }, timeoutMs: 150 });
    n.start();
    n.deployEnded(event());
    await until('both failures', () => store.webhooks.deliveries(appId).every((d) => d.state === 'failed'));
    const [timedOut, refused] = store.webhooks.deliveries(appId);
    expect(refused!.lastError).to.match(/ECONNREFUSED/);
    expect(refused!.lastStatus).to.equal(null);
    expect(timedOut!.lastError).to.equal('timed out after 0.15s');
  });

  it('never follows a redirect, and reads no more of an answer than its cap', async () => {
    const target = await serve([200]);
    const r = await serve([
      (res) => res.writeHead(302, { Location: target.url }).end(),
      (res) => {
        res.writeHead(500);
        const chunk = 'x'.repeat(64 * 1024);
        // An endless answer: the notifier must stop reading, not wait for the end.
        const write = () => res.write(chunk) && setImmediate(write);
        res.on('drain', write);
        write();
      },
    ]);
    store.webhooks.add({ appId, url: r.url, events: ['deploy.failed'], secret: 's' });
    const n = notifier({ retry: { attempts: 2, baseDelayMs: 10 }, maxResponseBytes: 1024, timeoutMs: 5000 });
    n.start();
    n.deployEnded(event());
    await until('both attempts', () => store.webhooks.deliveries(appId)[0]?.state === 'failed');
    expect(target.got).to.have.length(0);
    const d = store.webhooks.deliveries(appId)[0]!;
    expect(d.lastStatus).to.equal(500);
    // Status and timing, never what the receiver said.
    expect(d.lastError).to.match(/^HTTP 500 after \d+\.\d\ds$/);
  });

  it('records a redirect as a failure that names where it pointed', async () => {
    const r = await serve([(res) => res.writeHead(301, { Location: 'http://elsewhere.example/' }).end()]);
    store.webhooks.add({ appId, url: r.url, events: ['deploy.failed'], secret: 's' });
    const n = notifier({ retry: { attempts: 1, baseDelayMs: 10 } });
    n.start();
    n.deployEnded(event());
    await until('the failure', () => store.webhooks.deliveries(appId)[0]?.state === 'failed');
    expect(store.webhooks.deliveries(appId)[0]!.lastError).to.match(
      /^HTTP 301 \(redirect to http:\/\/elsewhere\.example\/ not followed\) after \d+\.\d\ds$/,
    );
  });

  it('sends nothing to an address the egress rule forbids, and says which rule', async () => {
    const r = await serve([200]);
    store.webhooks.add({ appId, url: r.url, events: ['deploy.failed'], secret: 's' });
    const n = notifier({ retry: { attempts: 1, baseDelayMs: 10 }, egress: DEFAULT_EGRESS });
    n.start();
    n.deployEnded(event());
    await until('the refusal', () => store.webhooks.deliveries(appId)[0]?.state === 'failed');
    expect(store.webhooks.deliveries(appId)[0]!.lastError).to.equal(
      `webhook 1: ${r.url} resolves to 127.0.0.1, a loopback address; only an admin may allow it (slipway server --egress-allow 127.0.0.1/32)`,
    );
    expect(r.got).to.have.length(0);
  });

  it('returns at once from deployEnded, whatever the receiver does', async () => {
    const r = await serve([() => undefined]);
    store.webhooks.add({ appId, url: r.url, events: ['deploy.failed'], secret: 's' });
    const n = notifier({ timeoutMs: 10_000 });
    n.start();
    // The receiver never answers; deployEnded has returned before the request even left.
    n.deployEnded(event());
    expect(r.got).to.have.length(0);
    await until('the request', () => r.got.length === 1);
  });

  it('leaves deliveries cut off by stop() due, and a new notifier on the same file sends them', async () => {
    const r = await serve([() => undefined, 200]);
    store.webhooks.add({ appId, url: r.url, events: ['deploy.failed', 'deploy.succeeded'], secret: 's3cret' });
    const first = notifier({ timeoutMs: 10_000 });
    first.start();
    first.deployEnded(event());
    await until('the first request', () => r.got.length === 1);
    await first.stop();
    expect(store.webhooks.pending()).to.have.length(1);
    expect(store.webhooks.pending()[0]!.attempts).to.equal(0);
    // A deploy that ends while nothing sends (before start) is kept for later too.
    const late = notifier();
    late.deployEnded(event({ failure: undefined, release: 9 }));
    store.close();

    store = Store.open(path.join(dir, 'slipway.db'));
    expect(store.webhooks.pending()).to.have.length(2);
    const second = notifier();
    second.start();
    await until('both resumed', () => store.webhooks.deliveries(appId).every((d) => d.state === 'delivered'));
    expect(r.got.length).to.be.at.least(3);
    expect(r.got[1]!.headers['x-slipway-delivery']).to.equal(r.got[0]!.headers['x-slipway-delivery']);
    for (const g of r.got) expect(verify('s3cret', g.body, g.headers['x-slipway-signature'] as string)).to.equal(true);
  });

  it('drops deliveries of a removed webhook', async () => {
    const r = await serve([500, 200]);
    const hook = store.webhooks.add({ appId, url: r.url, events: ['deploy.failed'], secret: 's' });
    const n = notifier({ retry: { attempts: 3, baseDelayMs: 200 } });
    n.start();
    n.deployEnded(event());
    await until('the first attempt', () => store.webhooks.deliveries(appId)[0]?.attempts === 1);
    expect(store.webhooks.remove(appId, hook.id)).to.equal(true);
    expect(store.webhooks.deliveries(appId)).to.deep.equal([]);
    await new Promise((res) => setTimeout(res, 300));
    expect(r.got).to.have.length(1);
  });
});
