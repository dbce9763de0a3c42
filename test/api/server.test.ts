import { expect } from 'chai';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { buildHttpServer } from '../../src/api/server.js';
import { hashToken } from '../../src/auth/tokens.js';
import type { Platform, ServerSettings } from '../../src/commands/context.js';
import type { GitGateway } from '../../src/git/gateway.js';
import type { DeployPlan } from '../../src/pipeline/deploys.js';
import { Store, type App, type User } from '../../src/store/index.js';
import { Layout } from '../../src/store/layout.js';

const execFileP = promisify(execFile);
const tmp = (p: string) => fs.mkdtempSync(path.join(os.tmpdir(), `slipway-${p}-`));

/** A gzip'd tar of a runnable app plus `extra` incompressible bytes. */
function artifact(extra: number): string {
  const dir = tmp('art');
  fs.writeFileSync(path.join(dir, 'Procfile'), 'web: node server.js\n');
  fs.writeFileSync(path.join(dir, 'blob'), crypto.randomBytes(extra));
  const file = path.join(tmp('tgz'), 'app.tgz');
  spawnSync('tar', ['-czf', file, '-C', dir, '.']);
  return file;
}

/**
 * The HTTP layer over a real store, with a recording queue in place of the
 * pipeline: what the routes hand to `deployArtifact` and how they speak HTTP.
 */
describe('api/server', () => {
  let home: string;
  let store: Store;
  let app: FastifyInstance;
  let port: number;
  let owner: App;
  let admin: User;
  const enqueued: Array<{ req: DeployPlan; sha256: string | null }> = [];
  const token = 'slp_unit_admin';
  const bobToken = 'slp_unit_bob';

  async function start(maxUploadBytes: number) {
    await app?.close();
    app = await buildHttpServer({
      store,
      gateway: { userForToken: (t: string) => store.users.userByTokenHash(hashToken(t)) } as unknown as GitGateway,
      platform: {
        services: {},
        stopApp: async () => undefined,
        queue: {
          enqueue: (req: DeployPlan) => {
            const file = req.source.kind === 'archive' ? req.source.archive : req.source.kind === 'tarball' ? req.source.file : '';
            enqueued.push({
              req,
              sha256: fs.existsSync(file) ? crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex') : null,
            });
            return store.jobs.create({
              appId: req.app.id,
              kind: req.kind,
              mode: req.mode,
              commit: null,
              userName: req.userName,
              params: {},
              logPath: (id) => path.join(home, `job-${id}.log`),
            });
          },
          follow: async (id: number, onData: (s: string) => void) => {
            onData('-----> done\n');
            return store.jobs.get(id);
          },
        },
      } as unknown as Platform,
      layout: new Layout(home),
      settings: {} as ServerSettings,
      gitHandler: (_req, res) => res.end('git'),
      version: 'test',
      maxUploadBytes,
      log: () => undefined,
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as AddressInfo).port;
  }

  /** curl with its own accounting: status, bytes it uploaded, and every header block (100 Continue included). */
  // Async: the server under test runs in this very process.
  async function curl(args: string[]) {
    const dir = tmp('curl');
    const r = await execFileP(
      'curl',
      ['-sS', '-D', path.join(dir, 'h'), '-o', path.join(dir, 'b'), '-w', '%{http_code} %{size_upload}', ...args],
      { encoding: 'utf8' },
    );
    const [status, uploaded] = r.stdout.split(' ').map(Number);
    return {
      status,
      uploaded,
      headers: fs.readFileSync(path.join(dir, 'h'), 'utf8'),
      body: JSON.parse(fs.readFileSync(path.join(dir, 'b'), 'utf8') || 'null'),
      stderr: r.stderr,
    };
  }

  before(async () => {
    home = tmp('api-home');
    store = Store.open(path.join(home, 'slipway.db'));
    admin = store.users.add('admin', 'admin');
    store.users.addToken(admin.id, 't', hashToken(token));
    const bob = store.users.add('bob', 'member');
    store.users.addToken(bob.id, 't', hashToken(bobToken));
    owner = store.apps.create({ name: 'web', ownerId: admin.id, env: 'staging', mode: 'cooking' });
    await start(8 * 1024 * 1024);
  });
  after(async () => {
    await app?.close();
    store.close();
  });

  it('answers Expect: 100-continue only once the upload is accepted, and streams it to the app dir', async () => {
    const file = artifact(2 * 1024 * 1024);
    const sha = crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
    const r = await curl([
      '--data-binary',
      `@${file}`,
      '-H',
      'Content-Type: application/gzip',
      '-H',
      `Authorization: Bearer ${token}`,
      `http://127.0.0.1:${port}/api/v1/apps/web/artifacts?sha256=${sha}`,
    ]);
    expect(r.status, JSON.stringify(r.body) + r.stderr).to.equal(202);
    expect(r.headers).to.match(/^HTTP\/1\.1 100 Continue/);
    expect(r.uploaded).to.equal(fs.statSync(file).size);
    expect(r.body).to.include({ app: 'web', kind: 'upload', status: 'queued' });
    expect(r.headers).to.match(new RegExp(`location: /api/v1/jobs/${r.body.id}`, 'i'));
    const last = enqueued.at(-1)!;
    expect(last.sha256).to.equal(sha);
    expect(last.req).to.include({ kind: 'upload', mode: 'final', releaseKind: 'artifact' });
    expect(path.dirname((last.req.source as { archive: string }).archive)).to.equal(path.join(home, 'apps', 'web', 'uploads'));
    // Removed once its job ended (here, at once).
    await new Promise((res) => setTimeout(res, 100));
    expect(fs.readdirSync(path.join(home, 'apps', 'web', 'uploads'))).to.deep.equal([]);
  });

  it('refuses before the body is sent: bad token, unknown app, no checksum, declared size over the limit', async () => {
    await start(1024 * 1024);
    const file = artifact(2 * 1024 * 1024);
    const url = (app: string, q = `?sha256=${'a'.repeat(64)}`) => `http://127.0.0.1:${port}/api/v1/apps/${app}/artifacts${q}`;
    const cases: Array<[string, string[], number, string]> = [
      ['bad token', ['-H', 'Authorization: Bearer nope', url('web')], 401, 'unauthorized'],
      ["bob's view of web", ['-H', `Authorization: Bearer ${bobToken}`, url('web')], 404, 'app_not_found'],
      ['no checksum', ['-H', `Authorization: Bearer ${token}`, url('web', '')], 400, 'sha256_required'],
      ['too large', ['-H', `Authorization: Bearer ${token}`, url('web')], 413, 'upload_too_large'],
    ];
    const jobs = store.jobs.list().length;
    for (const [what, args, status, code] of cases) {
      const r = await curl(['--data-binary', `@${file}`, '-H', 'Content-Type: application/gzip', ...args]);
      expect(r.status, what).to.equal(status);
      expect(r.body.error, what).to.equal(code);
      expect(r.uploaded, `${what}: bytes sent`).to.equal(0);
      expect(r.headers, what).to.not.match(/100 Continue/);
    }
    const empty = await app.inject({
      method: 'POST',
      url: url('web').replace(/^http:\/\/[^/]+/, ''),
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/gzip' },
    });
    expect(empty.statusCode).to.equal(400);
    expect(empty.json().error).to.equal('empty_upload');
    expect(fs.readdirSync(path.join(home, 'apps', 'web', 'uploads'))).to.deep.equal([]);
    expect(store.jobs.list().length).to.equal(jobs);
    await start(8 * 1024 * 1024);
  });

  it('answers a succeeded job with 303 to its release, and hides jobs of apps you may not see', async () => {
    const job = store.jobs.create({
      appId: owner.id,
      kind: 'push',
      mode: 'cooking',
      commit: null,
      userName: 'admin',
      params: {},
      logPath: (id) => path.join(home, `job-${id}.log`),
    });
    const get = (url: string, t = token) => app.inject({ url, headers: { authorization: `Bearer ${t}` } });
    let r = await get(`/api/v1/jobs/${job.id}`);
    expect(r.statusCode).to.equal(200);
    expect(r.json()).to.include({ id: job.id, app: 'web', status: 'queued', release: null, log_url: `/api/v1/jobs/${job.id}/log` });
    expect(r.headers['retry-after']).to.equal('2');
    store.jobs.setRelease(job.id, 7);
    store.jobs.finish(job.id, 'succeeded');
    r = await get(`/api/v1/jobs/${job.id}`);
    expect(r.statusCode).to.equal(303);
    expect(r.headers.location).to.equal('/api/v1/apps/web/releases/v7');
    expect(r.json()).to.include({ status: 'succeeded', release: 'v7' });
    const hidden = await get(`/api/v1/jobs/${job.id}`, bobToken);
    const missing = await get('/api/v1/jobs/99999', bobToken);
    expect(hidden.statusCode).to.equal(404);
    expect(hidden.body.replace(String(job.id), 'N')).to.equal(missing.body.replace('99999', 'N'));
    const log = await get(`/api/v1/jobs/${job.id}/log?follow=1`);
    expect(log.headers['content-type']).to.match(/^text\/plain/);
    expect(log.body).to.equal('-----> done\n');
  });

  it('validates promotions: JSON object, a source app, never itself', async () => {
    const post = (body: unknown) =>
      app.inject({
        method: 'POST',
        url: '/api/v1/apps/web/promotions',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        payload: JSON.stringify(body),
      });
    // Not an object at all is a schema violation (400); a well-formed body with a bad value is 422.
    const notObject = await post([]);
    expect(notObject.statusCode).to.equal(400);
    expect(notObject.json().error).to.equal('invalid_request');
    expect((await post({ from: 'web', extra: 1 })).json().error).to.equal('invalid_request');
    expect((await post({})).json().message).to.match(/which app to promote from/);
    expect((await post({ from: 'web' })).json().message).to.match(/itself/);
    expect((await post({ from: 'Nope!' })).statusCode).to.equal(422);
    expect((await post({ from: 'nope' })).statusCode).to.equal(404);
  });
});
