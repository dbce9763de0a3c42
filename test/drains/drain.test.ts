import { expect } from 'chai';
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { DrainRunner, DEFAULT_DRAIN_TUNING, type DrainEvent, type DrainTuning } from '../../src/drains/drain.js';
import { LogplexSender } from '../../src/drains/logplex-sender.js';
import type { DrainSender } from '../../src/drains/sender.js';
import { SyslogSender } from '../../src/drains/syslog-sender.js';
import type { LogRecord } from '../../src/drains/syslog.js';
import { DEFAULT_EGRESS } from '../../src/egress/index.js';
import { makeLeaf, makePki } from '../tls/pki.js';
import { eventually } from '../e2e/harness.js';
import { logplexReceiver, stuckReceiver, syslogReceiver } from './receivers.js';

const egress = { ...DEFAULT_EGRESS, allow: ['127.0.0.1/32'], connectTimeoutMs: 2000, idleTimeoutMs: 60_000 };
const tuning: DrainTuning = { ...DEFAULT_DRAIN_TUNING, batchWaitMs: 10, retryBaseMs: 50, retryMaxMs: 200 };
const line = (msg: string, procid = 'web.1'): LogRecord => ({ time: '2026-11-30T01:02:03.456Z', procid, own: false, msg });
const UTF8 = 'héllo wörld ✓ 🚀 日本語';

describe('drains/drain: real receivers on 127.0.0.1', function () {
  this.timeout(60_000);
  const pki = makePki();
  const leaf = makeLeaf(pki, ['127.0.0.1']);
  const served = { cert: leaf.fullchainPem, key: leaf.keyPem };
  const withRoot = tls.createSecureContext({ ca: [...tls.rootCertificates, fs.readFileSync(pki.root, 'utf8')] });
  const nodeRoots = tls.createSecureContext({ ca: [...tls.rootCertificates] });
  const runners: DrainRunner[] = [];
  afterEach(async () => Promise.all(runners.splice(0).map((r) => r.stop())));

  function runner(sender: DrainSender, over: Partial<DrainTuning> = {}) {
    const events: DrainEvent[] = [];
    const announced: string[] = [];
    const r = new DrainRunner({
      id: runners.length + 1,
      app: 'shop',
      sender,
      tuning: { ...tuning, ...over },
      onEvent: (e) => events.push(e),
      announce: (m) => announced.push(m),
    });
    runners.push(r);
    return { r, events, announced };
  }
  const syslog = (url: string, secureContext = nodeRoots) =>
    new SyslogSender({ app: 'shop', url, shown: url, tls: url.startsWith('syslog+tls'), egress, secureContext });

  it('syslog over TCP: each line arrives whole as one RFC 5424 message, multi-byte UTF-8 included', async () => {
    const rx = await syslogReceiver();
    try {
      const { r, events } = runner(syslog(rx.url));
      r.push([line('first'), line(UTF8), line('deploy line', 'deploy')]);
      await eventually(() => rx.messages.length === 3, 'three messages');
      expect(rx.messages[1]).to.match(new RegExp(`^<190>1 2026-11-30T01:02:03.456Z \\S+ shop web\\.1 - - ${UTF8}$`));
      expect(rx.messages[2]).to.match(/ shop deploy - - deploy line$/);
      expect(r.stats()).to.include({ delivered: 3, dropped: 0, queued: 0 });
      expect(events).to.deep.include({ drainId: 1, app: 'shop', kind: 'delivered', lines: 3 });
    } finally {
      await rx.close();
    }
  });

  it('syslog over TLS: the receiver is verified against the CAs given (an openssl-made root); an unknown root is refused', async () => {
    const rx = await syslogReceiver(served);
    try {
      const good = runner(syslog(rx.url, withRoot));
      good.r.push([line(UTF8)]);
      await eventually(() => rx.messages.length === 1, 'the message over TLS');
      expect(rx.messages[0]).to.match(new RegExp(` shop web\\.1 - - ${UTF8}$`));
      // Without the test root the chain ends nowhere trusted: nothing is sent, the error says why, and it keeps trying.
      const bad = runner(syslog(rx.url, nodeRoots));
      bad.r.push([line('must not arrive')]);
      await eventually(() => Boolean(bad.r.stats().lastError), 'a TLS error');
      expect(bad.r.stats().lastError).to.match(/certificate/i);
      expect(bad.r.stats()).to.include({ delivered: 0, queued: 0 });
      expect(rx.messages).to.have.length(1);
    } finally {
      await rx.close();
    }
  });

  it('logplex over HTTPS: a batch answered 500 comes again (same frame id), then 204 delivers it', async () => {
    const rx = await logplexReceiver(served);
    rx.answers.push(500, 204);
    try {
      const sender = new LogplexSender({ app: 'shop', url: rx.url, shown: rx.url, token: 'abc', egress, secureContext: withRoot });
      const { r } = runner(sender);
      r.push([line('one'), line(UTF8)]);
      await eventually(() => rx.hits.length === 2, 'the batch twice');
      const [first, second] = rx.hits;
      expect(first!.status).to.equal(500);
      expect(second!.status).to.equal(204);
      expect(second!.headers['logplex-frame-id']).to.equal(first!.headers['logplex-frame-id']);
      expect(second!.headers).to.include({
        'content-type': 'application/logplex-1',
        'logplex-msg-count': '2',
        'logplex-drain-token': 'd.abc',
      });
      expect(second!.messages).to.have.length(2);
      expect(second!.messages[1]).to.match(new RegExp(` shop web\\.1 - - ${UTF8}$`));
      expect(second!.body.equals(first!.body)).to.equal(true);
      await eventually(() => r.stats().delivered === 2, 'delivered counted');
      expect(r.stats()).to.include({ dropped: 0 });
      expect(r.stats().lastError).to.match(/HTTP 500/);
    } finally {
      await rx.close();
    }
  });

  it('logplex: a 400 drops the batch for good, counts it, and says so once; 429 is tried again', async () => {
    const rx = await logplexReceiver();
    rx.answers.push(400, 429, 204);
    try {
      const sender = new LogplexSender({ app: 'shop', url: rx.url, shown: rx.url, token: 't', egress, secureContext: nodeRoots });
      const { r, events, announced } = runner(sender);
      r.push([line('refused one'), line('refused two')]);
      await eventually(() => r.stats().dropped === 2, 'the refused batch dropped');
      expect(r.stats()).to.include({ refused: 2, delivered: 0 });
      expect(events).to.deep.include({ drainId: 1, app: 'shop', kind: 'dropped', reason: 'refused', lines: 2 });
      expect(announced).to.have.length(1);
      expect(announced[0]).to.match(/^drain 1 refused 2 line\(s\): HTTP 400/);
      r.push([line('after')]);
      await eventually(() => r.stats().delivered === 1, 'the next batch, after a 429');
      expect(rx.hits.map((h) => h.status)).to.deep.equal([400, 429, 204]);
      expect(rx.hits[2]!.messages[0]).to.match(/ - - after$/);
    } finally {
      await rx.close();
    }
  });

  it('an unreachable receiver: retried with back-off, the error kept, pushing never fails, stop ends it', async () => {
    const gone = await syslogReceiver();
    await gone.close();
    const { r } = runner(syslog(gone.url));
    r.push([line('nobody hears this')]);
    await eventually(() => /ECONNREFUSED/.test(r.stats().lastError ?? ''), 'a refused connection');
    r.push([line('still taken')]);
    expect(r.stats().delivered).to.equal(0);
    await r.stop();
    expect(r.stats()).to.include({ queued: 0 });
    expect(r.stats().dropped).to.be.at.least(1);
  });

  it('hostile receivers: garbage answers, resets and a silent HTTP server are retried, never thrown', async () => {
    // Answers every connection with bytes that are neither TLS nor HTTP, then resets it. (Plain TCP syslog has no
    // answer to get wrong: a write the kernel took before the reset counts as sent, as on any syslog client.)
    const rude = net.createServer((socket) => {
      socket.on('error', () => undefined);
      socket.write('\x00\xffgarbage\r\n\r\n', () => socket.resetAndDestroy());
    });
    // Accepts, reads, and never answers (a slow loris on the receiving side).
    const silent = net.createServer((socket) => {
      socket.on('error', () => undefined);
      socket.resume();
    });
    await Promise.all([rude, silent].map((srv) => new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))));
    const port = (srv: net.Server) => (srv.address() as net.AddressInfo).port;
    const quick = { ...egress, idleTimeoutMs: 300 };
    try {
      const url = (srv: net.Server) => `http://127.0.0.1:${port(srv)}/logs`;
      const senders = [
        new SyslogSender({
          app: 'shop',
          url: `syslog+tls://127.0.0.1:${port(rude)}`,
          shown: 'rude',
          tls: true,
          egress: quick,
          secureContext: nodeRoots,
        }),
        new LogplexSender({ app: 'shop', url: url(rude), shown: url(rude), token: 't', egress: quick, secureContext: nodeRoots }),
        new LogplexSender({ app: 'shop', url: url(silent), shown: url(silent), token: 't', egress: quick, secureContext: nodeRoots }),
      ];
      const all = senders.map((sender) => runner(sender).r);
      for (const r of all) r.push([line('into the void')]);
      await eventually(() => all.every((r) => Boolean(r.stats().lastError)), 'every drain failed at least once');
      // Still trying (the batch is held, not delivered, not dropped), and the process is alive to say so.
      await new Promise((r) => setTimeout(r, 500));
      for (const r of all) expect(r.stats(), r.stats().lastError).to.include({ delivered: 0, dropped: 0 });
      expect(all[2]!.stats().lastError).to.match(/idle timeout|stalled|timed out/);
    } finally {
      await Promise.all(runners.splice(0).map((r) => r.stop()));
      rude.close();
      silent.close();
    }
  });

  it('hostile: a receiver that never reads holds its own drain only; its queue stays bounded, dropping the oldest', async () => {
    const stuck = await stuckReceiver();
    const rx = await syslogReceiver();
    try {
      const bound = { queueLines: 1000, queueBytes: 1024 * 1024 };
      const slow = runner(syslog(`syslog://127.0.0.1:${stuck.port}`), bound);
      const fine = runner(syslog(rx.url), { queueLines: 200_000, queueBytes: 64 * 1024 * 1024 });
      const text = 'x'.repeat(500);
      const total = 40_000;
      const before = process.memoryUsage().rss;
      for (let i = 0; i < total; i += 500) {
        const batch = Array.from({ length: 500 }, (_, j) => line(`${i + j} ${text}`));
        slow.r.push(batch);
        fine.r.push(batch);
        await new Promise((resolve) => setImmediate(resolve));
      }
      await eventually(() => rx.messages.length === total, 'every line at the receiver that reads', 30_000);
      expect(rx.messages.at(-1)).to.match(new RegExp(` - - ${total - 1} x+$`));
      const s = slow.r.stats();
      // 20 MB went to it; the kernel's buffers took some, its queue holds at most 1000 lines, the rest were dropped.
      expect(s.queued).to.be.at.most(1000);
      expect(s.dropped).to.be.greaterThan(total / 2);
      expect(s.delivered + s.dropped + s.queued).to.be.at.most(total);
      const grown = (process.memoryUsage().rss - before) / 1024 / 1024;
      console.log(`      stuck drain: delivered ${s.delivered}, dropped ${s.dropped}, queued ${s.queued}; rss +${grown.toFixed(1)} MB`);
      await eventually(() => slow.announced.length > 0, 'the overflow announced');
      expect(slow.announced.join('\n')).to.match(/dropped \d+ line\(s\): its queue was full/);
    } finally {
      await stuck.close();
      await rx.close();
    }
  });
});
