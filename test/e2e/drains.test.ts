import { expect } from 'chai';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { makeLeaf, makePki } from '../tls/pki.js';
import { logplexReceiver, syslogReceiver, type LogplexReceiver, type SyslogReceiver } from '../drains/receivers.js';
import { query } from './db.js';
import { appRepo, commitAll, eventually, httpGet, push, sshKey, TestServer } from './harness.js';

const APP = 'drainy';
const UTF8 = 'héllo wörld ✓ 🚀 日本語';

/** The example app, printing a line per request (its path decoded) and one when it starts. */
function chattyRepo(): string {
  const repo = appRepo('procfile-hello');
  fs.writeFileSync(
    path.join(repo, 'server.js'),
    `Promise.all([import('node:http'), import('node:fs')]).then(([http, fs]) => {
  const message = fs.readFileSync('message.txt', 'utf8').trim();
  const server = http.createServer((req, res) => {
    console.log('request ' + decodeURIComponent(req.url));
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(message);
  });
  server.listen(Number(process.env.PORT || 5000), () => console.log('up and saying ' + message));
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
});
`,
  );
  commitAll(repo, 'chatty');
  return repo;
}

describe('e2e: log drains', function () {
  this.timeout(300_000);
  const pki = makePki();
  const leaf = makeLeaf(pki, ['127.0.0.1']);
  const served = { cert: leaf.fullchainPem, key: leaf.keyPem };
  let server: TestServer;
  let tcp: SyslogReceiver;
  let tlsRx: SyslogReceiver;
  let https: LogplexReceiver;
  let memberToken = '';
  const httpsUrl = () => `${https.url}?key=k3y-secret`;
  const withHttpsToken = () => httpsUrl().replace('https://', 'https://user:p4ss@');

  const cli = (args: string[]) => {
    const r = server.cli(args);
    expect(r.code, `slipway ${args.join(' ')}: ${r.stderr}`).to.equal(0);
    return r.stdout;
  };
  /** One API call as the member, on a connection of its own. */
  const api = (method: string, url: string, body?: unknown) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const req = http.request(
        {
          host: '127.0.0.1',
          port: server.ports.http,
          path: url,
          method,
          agent: false,
          headers: { authorization: `Bearer ${memberToken}`, ...(data ? { 'content-type': 'application/json' } : {}) },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        },
      );
      req.on('error', reject);
      req.end(data);
    });
  const hit = (p: string) => server.get(APP, `/${encodeURIComponent(p)}`);
  const got = (messages: string[], text: string) => messages.some((m) => m.endsWith(` ${APP} web.1 - - request /${text}`));

  before(async () => {
    tcp = await syslogReceiver();
    tlsRx = await syslogReceiver(served);
    https = await logplexReceiver(served);
    server = await TestServer.start({ env: { SLIPWAY_EGRESS_ALLOW: '127.0.0.1/32', SLIPWAY_EXTRA_CA_BUNDLE: pki.root } });
    cli(['apps:create', APP]);
    for (const url of [tcp.url, tlsRx.url, withHttpsToken()]) cli(['drains:add', APP, url]);
    cli(['users:add', 'member']);
    memberToken = cli(['tokens:create', '--user', 'member', '--name', 'drains']).trim();
    const key = sshKey();
    cli(['keys:add', key.pub]);
    const r = await push(chattyRepo(), server.sshRemote(APP), { sshCommand: key.sshCommand });
    expect(r.code, r.stderr).to.equal(0);
  });
  after(async () => {
    await server?.stop();
    await Promise.all([tcp?.close(), tlsRx?.close(), https?.close()]);
  });
  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(`slipway server output:\n${server.output.slice(-4000)}`);
  });

  it('TCP syslog, TLS syslog and HTTPS logplex each get the deploy lines and the app lines intact, framed in bytes', async () => {
    await hit(UTF8);
    for (const [name, messages] of [
      ['tcp', () => tcp.messages],
      ['tls', () => tlsRx.messages],
      ['https', () => https.hits.flatMap((h) => h.messages)],
    ] as const) {
      await eventually(() => got(messages(), UTF8), `${name}: the request line with multi-byte UTF-8`);
      expect(
        messages().some((m) => / drainy deploy - - -----> /.test(m)),
        `${name}: a deploy line`,
      ).to.equal(true);
      expect(
        messages().some((m) => m.includes(` ${APP} web.1 - - up and saying `)),
        `${name}: the start line`,
      ).to.equal(true);
      const routed = `path="/${encodeURIComponent(UTF8)}" host=${APP}.localhost fwd="127.0.0.1" status=200`;
      await eventually(
        () => messages().some((m) => m.includes(` ${APP} router - - at=info method=GET ${routed}`)),
        `${name}: the router line`,
      );
      expect(
        messages().every((m) => /^<190>1 \S+Z \S+ drainy \S+ \S+ - /.test(m)),
        `${name}: RFC 5424 headers`,
      ).to.equal(true);
    }
    expect([...tcp.errors, ...tlsRx.errors, ...https.errors]).to.deep.equal([]);
    const h = https.hits.at(-1)!;
    expect(h.headers).to.include({ 'content-type': 'application/logplex-1', 'logplex-msg-count': String(h.messages.length) });
    expect(h.headers['logplex-drain-token']).to.match(/^d\.[0-9a-f]{24}$/);
    expect(h.headers['logplex-frame-id']).to.match(/^[0-9a-f-]{36}$/);
    // The HTTPS drain's token (userinfo and query) is sealed in the store and masked wherever it is shown.
    const listed = cli(['drains', APP]);
    expect(listed).to.include(tcp.url).and.include(tlsRx.url).and.include('https://***:***@127.0.0.1').and.include('key=***');
    expect(listed).to.not.match(/p4ss|k3y-secret/);
    const rows = query<{ url: string; sealed_url: string | null }>(server.home, 'SELECT url, sealed_url FROM drains ORDER BY id');
    expect(JSON.stringify(rows)).to.not.match(/p4ss|k3y-secret/);
    expect(rows.map((r) => r.sealed_url === null)).to.deep.equal([true, true, false]);
  });

  it('HTTPS: a batch answered 500 is sent again and delivered when the receiver answers 204', async () => {
    let failed = false;
    https.decide = (messages) => (!failed && got(messages, 'retry-me') ? ((failed = true), 500) : undefined);
    await hit('retry-me');
    await eventually(() => https.hits.filter((h) => got(h.messages, 'retry-me')).length === 2, 'the batch twice');
    const [first, second] = https.hits.filter((h) => got(h.messages, 'retry-me'));
    expect([first!.status, second!.status]).to.deep.equal([500, 204]);
    expect(second!.headers['logplex-frame-id']).to.equal(first!.headers['logplex-frame-id']);
    expect(second!.body.equals(first!.body)).to.equal(true);
  });

  it("HTTPS: a batch answered 400 is dropped, counted, and the app's log says the drain refused it", async () => {
    https.decide = (messages) => (got(messages, 'refuse-me') ? 400 : undefined);
    await hit('refuse-me');
    await eventually(
      () => /slipway\[drain\]: drain \d+ refused \d+ line\(s\): HTTP 400/.test(cli(['logs', APP, '-n', '200'])),
      'the refusal in the log',
    );

    expect(https.hits.filter((h) => got(h.messages, 'refuse-me')).map((h) => h.status)).to.deep.equal([400]);
    const row = cli(['drains', APP])
      .split('\n')
      .find((l) => l.includes('https://'))!;
    expect(row, row).to.match(/HTTP 400/);
    expect(Number(row.split(/\s{2,}/)[4])).to.be.at.least(1);
    https.decide = undefined;
    // Metrics read the same counts: the refused lines as dropped, the rest as delivered.
    const metrics = await httpGet({
      port: server.ports.http,
      host: '127.0.0.1',
      path: '/metrics',
      headers: { authorization: `Bearer ${server.adminToken}` },
    });
    const count = (outcome: string) =>
      Number(new RegExp(`^slipway_drain_messages_total\\{app="${APP}",outcome="${outcome}"\\} (\\d+)$`, 'm').exec(metrics.body)?.[1] ?? 0);
    expect(count('dropped'), metrics.body.slice(0, 300)).to.be.at.least(1);
    expect(count('delivered')).to.be.greaterThan(10);
  });

  it("a member can add no drain to another user's app, nor to an internal address the egress policy does not allow", async () => {
    expect((await api('POST', `/api/v1/apps/${APP}/drains`, { url: tcp.url })).status).to.equal(404);
    expect((await api('GET', `/api/v1/apps/${APP}/drains`)).status).to.equal(404);
    cli(['apps:create', 'memberapp']);
    cli(['apps:transfer', 'memberapp', 'member']);
    for (const [url, why] of [
      ['syslog://127.0.0.2:514', /resolves to 127\.0\.0\.2, a loopback address; only an admin may allow it/],
      ['syslog+tls://10.1.2.3:6514', /resolves to 10\.1\.2\.3, a private address/],
      ['https://[::1]:8443/logs', /a loopback address/],
      ['ftp://example.com/x', /drains take syslog, syslog\+tls and http\(s\)/],
    ] as const) {
      const res = await api('POST', '/api/v1/apps/memberapp/drains', { url });
      expect(res.status, url).to.equal(422);
      expect(res.body, url).to.match(why);
    }
    // 127.0.0.1 is in the admin's --egress-allow: allowed, for a member too.
    const added = await api('POST', '/api/v1/apps/memberapp/drains', { url: tcp.url });
    expect(added.status, added.body).to.equal(201);
    expect(JSON.parse(added.body)).to.include({ url: `${tcp.url}` });
    expect((await api('POST', '/api/v1/apps/memberapp/drains', { url: tcp.url })).status).to.equal(409);
    const listed = JSON.parse((await api('GET', '/api/v1/apps/memberapp/drains')).body);
    expect(listed.map((d: { url: string }) => d.url)).to.deep.equal([tcp.url]);
    const removed = await api('DELETE', `/api/v1/apps/memberapp/drains?url=${encodeURIComponent(tcp.url)}`);
    expect(removed.status, removed.body).to.equal(200);
    const again = JSON.parse((await api('POST', '/api/v1/apps/memberapp/drains', { url: tcp.url })).body);
    expect((await api('DELETE', `/api/v1/apps/memberapp/drains/${again.id}`)).status).to.equal(200);
    expect(JSON.parse((await api('GET', '/api/v1/apps/memberapp/drains')).body)).to.deep.equal([]);
  });

  it('drains:remove stops the drain (its connection closes); the others go on, and survive a daemon restart', async () => {
    expect(tcp.open).to.be.at.least(1);
    cli(['drains:remove', APP, tcp.url]);
    await eventually(() => tcp.open === 0, "the removed drain's connection closed");
    await hit('after-remove');
    await eventually(() => got(tlsRx.messages, 'after-remove'), 'the TLS drain still gets lines');
    expect(got(tcp.messages, 'after-remove')).to.equal(false);

    await server.stop();
    await server.boot();
    await eventually(async () => (await hit('after-restart')).status === 200, 'the app back after the restart');
    await eventually(() => got(tlsRx.messages, 'after-restart'), 'the TLS drain, reloaded from the store');
    await eventually(() => https.hits.some((h) => got(h.messages, 'after-restart')), 'the HTTPS drain, reloaded from the store');
    server.assertAlive('the drains');
  });

  it('destroying the app stops its drains', async () => {
    expect(tlsRx.open).to.be.at.least(1);
    cli(['apps:destroy', APP, '--confirm', APP]);
    await eventually(() => tlsRx.open === 0, "the destroyed app's TLS drain disconnected");
    expect(query(server.home, 'SELECT id FROM drains WHERE app_id NOT IN (SELECT id FROM apps)')).to.deep.equal([]);
    server.assertAlive('the drains');
  });
});
