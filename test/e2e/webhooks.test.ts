import { expect } from 'chai';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { appRepo, commitAll, eventually, push, setMessage, sshKey, TestServer, useServer } from './harness.js';

interface Hit {
  headers: http.IncomingHttpHeaders;
  raw: string;
  body: any;
}

const signatureOf = (secret: string, raw: string) => `sha256=${crypto.createHmac('sha256', secret).update(raw).digest('hex')}`;

describe('e2e: deploy webhooks', function () {
  this.timeout(180_000);
  // Short backoff so a retried delivery arrives within the test.
  const env = useServer({ env: { SLIPWAY_WEBHOOK_RETRY_MS: '200', SLIPWAY_EGRESS_ALLOW: '127.0.0.1/32' } });
  let server: TestServer;
  let key: ReturnType<typeof sshKey>;
  beforeEach(() => ({ server, key } = env));

  const hits: Hit[] = [];
  /** Status codes for the next requests, in order; 200 once it runs out. */
  const answers: number[] = [];
  let receiver: http.Server;
  let hookUrl = '';
  let repo = '';
  let commit = '';

  before(async () => {
    receiver = http.createServer((req, res) => {
      let raw = '';
      req.on('data', (d) => (raw += d));
      req.on('end', () => {
        hits.push({ headers: req.headers, raw, body: JSON.parse(raw) });
        res.writeHead(answers.shift() ?? 200).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  });
  // Every test may run alone: hooky, with a webhook to the receiver, is deployed as v1 here.
  before(async () => {
    ({ server, key } = env);
    expect(server.cli(['apps:create', 'hooky']).code).to.equal(0);
    const added = server.cli(['webhooks:add', 'hooky', hookUrl, '--secret', 's3cret']);
    expect(added.code, added.stderr).to.equal(0);
    expect(added.stdout).to.not.include('s3cret');
    repo = appRepo('procfile-hello');
    commit = setMessage(repo, 'hooky v1');
    const r = await push(repo, server.sshRemote('hooky'), { sshCommand: key.sshCommand });
    expect(r.code, r.stderr).to.equal(0);
  });
  after(() => new Promise((r) => receiver.close(r)));

  it('webhooks:add refuses a bad URL, prints a generated secret once, and webhooks:remove removes', () => {
    expect(server.cli(['apps:create', 'hookadmin']).code).to.equal(0);
    const bad = server.cli(['webhooks:add', 'hookadmin', 'ftp://example.com/x']);
    expect(bad.code).to.not.equal(0);
    expect(bad.stderr).to.include('is not an http(s) URL');
    expect(server.cli(['webhooks:add', 'hookadmin', `https://example.com/${'a'.repeat(2000)}`]).stderr).to.include('at most 2000');
    expect(server.cli(['webhooks:add', 'hookadmin', 'https://example.com/x', '--events', 'push']).stderr).to.include(
      'unknown event "push"',
    );

    const added = server.cli(['webhooks:add', 'hookadmin', 'https://user:pw@example.com/x', '--events', 'deploy.succeeded']);
    expect(added.code, added.stderr).to.equal(0);
    const secret = /secret \(shown once, keep it\): ([0-9a-f]{40})/.exec(added.stdout)?.[1];
    expect(secret, added.stdout).to.be.a('string');
    const id = /Added webhook (\d+) to hookadmin/.exec(added.stdout)![1]!;
    const list = server.cli(['webhooks', 'hookadmin']);
    expect(list.stdout).to.match(new RegExp(`^${id}\\s+https://user:\\*\\*\\*@example.com/x\\s+deploy.succeeded\\s+.*never$`, 'm'));
    expect(list.stdout).to.not.include(secret!);
    expect(server.cli(['webhooks:remove', 'hookadmin', id]).stdout).to.include(`Removed webhook ${id} from hookadmin`);
    expect(server.cli(['webhooks:remove', 'hookadmin', id]).stderr).to.include('not found');
    expect(server.cli(['webhooks', 'hookadmin']).stdout).to.include('hookadmin has no webhooks');
  });

  it('a successful deploy sends a signed deploy.succeeded with the release number', async () => {
    // The deploy of v1 (in before) sent it.
    expect((await server.get('hooky')).body.trim()).to.equal('hooky v1');
    await eventually(() => hits.length >= 1, 'the deploy.succeeded POST');
    const hit = hits[0]!;
    expect(hit.headers['x-slipway-signature']).to.equal(signatureOf('s3cret', hit.raw));
    expect(hit.headers['x-slipway-event']).to.equal('deploy.succeeded');
    expect(hit.headers['content-type']).to.equal('application/json');
    expect(hit.headers['user-agent']).to.equal('Slipway-Hookshot');
    expect(hit.body).to.include({
      event: 'deploy.succeeded',
      app: 'hooky',
      release: 1,
      status: 'succeeded',
      commit,
      kind: 'push',
      mode: 'cooking',
      stage: null,
      error: null,
    });
    expect(hit.body.log_url).to.equal(`/api/v1/jobs/${hit.body.job_id}/log`);
    expect(hit.body.duration_ms).to.be.a('number').and.above(0);
    expect(Date.parse(hit.body.created_at)).to.be.closeTo(Date.now(), 60_000);
  });

  it('a deploy failing at configure sends deploy.failed, retried after a 500, and v1 keeps serving', async () => {
    // v1's deploy.succeeded first, so it is not taken for one of this test's.
    await eventually(() => hits.length >= 1, 'the deploy.succeeded POST');
    const before = hits.length;
    answers.push(500);
    fs.mkdirSync(path.join(repo, '.slipway'), { recursive: true });
    fs.writeFileSync(path.join(repo, '.slipway', 'configure'), '#!/bin/sh\nexit 1\n', { mode: 0o755 });
    commitAll(repo, 'a configure hook that fails');
    const r = await push(repo, server.sshRemote('hooky'), { sshCommand: key.sshCommand });
    expect(r.stderr).to.match(/Deploy of hooky v2 failed at configure: .*v1 is still serving/);
    expect((await server.get('hooky')).body.trim()).to.equal('hooky v1');

    await eventually(() => hits.length === before + 2, 'the failed first attempt and its retry');
    const [first, second] = hits.slice(before);
    for (const hit of [first!, second!]) {
      expect(hit.headers['x-slipway-signature']).to.equal(signatureOf('s3cret', hit.raw));
      expect(hit.headers['x-slipway-event']).to.equal('deploy.failed');
      expect(hit.body).to.include({ event: 'deploy.failed', app: 'hooky', release: 2, status: 'failed', stage: 'configure', kind: 'push' });
      expect(hit.body.error).to.include('.slipway/configure exited with status 1');
    }
    expect(second!.headers['x-slipway-delivery']).to.equal(first!.headers['x-slipway-delivery']);
    expect(second!.raw).to.equal(first!.raw);

    const delivery = first!.headers['x-slipway-delivery'] as string;
    await eventually(() => server.cli(['webhooks:deliveries', 'hooky']).stdout.includes('delivered'), 'the delivery recorded as delivered');
    const out = server.cli(['webhooks:deliveries', 'hooky']).stdout;
    const row = out.split('\n').find((l) => l.includes(delivery));
    expect(row, out).to.match(/deploy\.failed\s+v2\s+200\s+2\s+delivered/);
    expect(out).to.match(/deploy\.succeeded\s+v1\s+200\s+1\s+delivered/);
    const id = /^(\d+)\s/m.exec(server.cli(['webhooks', 'hooky']).stdout.split('\n')[1]!)![1]!;
    expect(server.cli(['webhooks:deliveries', 'hooky', id]).stdout).to.include(delivery);
    expect(server.cli(['webhooks', 'hooky']).stdout).to.match(/delivered 200/);
    // Failed attempts are logged by the daemon, never with the secret.
    expect(server.output).to.match(/webhooks: deploy\.failed delivery .* attempt 1 failed \(HTTP 500 after \d+\.\d\ds\)/);
    expect(server.output).to.not.include('s3cret');
  });
});

describe('e2e: webhook deliveries survive a restart', function () {
  this.timeout(180_000);
  let server: TestServer;
  let receiver: http.Server;
  const hits: Hit[] = [];
  let status = 503;

  before(async () => {
    // A long backoff: the retry is still due when the daemon stops.
    server = await TestServer.start({ env: { SLIPWAY_WEBHOOK_RETRY_MS: '4000', SLIPWAY_EGRESS_ALLOW: '127.0.0.1/32' } });
    receiver = http.createServer((req, res) => {
      let raw = '';
      req.on('data', (d) => (raw += d));
      req.on('end', () => {
        hits.push({ headers: req.headers, raw, body: JSON.parse(raw) });
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  });
  after(async () => {
    await server?.stop();
    await new Promise((r) => receiver.close(r));
  });

  it('a retry due when the daemon stops is sent after it starts again', async () => {
    const key = sshKey();
    expect(server.cli(['keys:add', key.pub]).code).to.equal(0);
    expect(server.cli(['apps:create', 'resumer']).code).to.equal(0);
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    expect(server.cli(['webhooks:add', 'resumer', url, '--secret', 'k3y']).code).to.equal(0);
    const repo = appRepo('procfile-hello');
    setMessage(repo, 'resumer v1');
    expect((await push(repo, server.sshRemote('resumer'), { sshCommand: key.sshCommand })).code).to.equal(0);
    await eventually(() => hits.length === 1, 'the first attempt');
    await server.stop();

    status = 200;
    await server.boot();
    expect(server.output).to.include('webhooks: resuming 1 pending delivery');
    await eventually(() => hits.length === 2, 'the resumed attempt', 30_000);
    expect(hits[1]!.headers['x-slipway-delivery']).to.equal(hits[0]!.headers['x-slipway-delivery']);
    expect(hits[1]!.headers['x-slipway-signature']).to.equal(signatureOf('k3y', hits[1]!.raw));
    expect(hits[1]!.body).to.include({ event: 'deploy.succeeded', app: 'resumer', release: 1 });
    await eventually(
      () => /deploy\.succeeded\s+v1\s+200\s+2\s+delivered/.test(server.cli(['webhooks:deliveries', 'resumer']).stdout),
      'the delivery recorded',
    );
  });
});
