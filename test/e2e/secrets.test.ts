import { expect } from 'chai';
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { BIN, appRepo, commitAll, eventually, push, useServer, type TestServer } from './harness.js';
import { query } from './db.js';

const MASK = '********';

/** One API request on a fresh connection (a pooled one may have been closed by the server meanwhile). */
function api(
  server: TestServer,
  token: string,
  urlPath: string,
  init: { method?: string; body?: unknown } = {},
): Promise<{ status: number; text: string; json: any; location?: string }> {
  return new Promise((resolve, reject) => {
    const body = init.body === undefined ? undefined : JSON.stringify(init.body);
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) };
    const req = http.request(
      { host: '127.0.0.1', port: server.ports.http, method: init.method ?? 'GET', path: urlPath, headers, agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          let json: any;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, text, json, location: res.headers.location });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Every regular file under `dir` that holds `needle`, as bytes (a database page, a log, an archive member). */
function filesHolding(dir: string, needle: string): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && fs.readFileSync(p).includes(Buffer.from(needle))) found.push(p);
    }
  };
  walk(dir);
  return found;
}

describe('e2e: secrets', function () {
  this.timeout(300_000);
  const env = useServer();
  let server: TestServer;
  beforeEach(() => ({ server } = env));

  // Random each run, so nothing could hold them by accident.
  const viaCli = `cli-secret-${crypto.randomBytes(12).toString('hex')}`;
  const viaApi = `api-secret-${crypto.randomBytes(12).toString('hex')}`;
  const secrets = [viaCli, viaApi];
  const jobIds: number[] = [];
  let pushOutput = '';
  let token = '';

  const clean = (what: string, text: string) => {
    for (const s of secrets) expect(text, `${what} must not show a secret`).to.not.include(s);
  };

  before(async function () {
    this.timeout(240_000);
    token = env.server.cli(['tokens:create', '--name', 'secrets-test']).stdout.trim();
    const repo = appRepo('env-app');
    // The app prints its secrets at build time and when it starts, as careless apps do.
    fs.mkdirSync(path.join(repo, '.slipway'));
    fs.writeFileSync(path.join(repo, '.slipway', 'build'), '#!/bin/sh\necho "build sees API_KEY=$API_KEY"\n', { mode: 0o755 });
    fs.writeFileSync(
      path.join(repo, 'Procfile'),
      'web: echo "runtime sees API_KEY=$API_KEY DB_PASSWORD=$DB_PASSWORD"; exec node server.js\n',
    );
    commitAll(repo, 'print the secrets');

    expect(env.server.cli(['apps:create', 'vault']).code).to.equal(0);
    const set = env.server.cli(['config:set', 'vault', '--secret', `API_KEY=${viaCli}`]);
    expect(set.code, set.stderr).to.equal(0);
    expect(env.server.cli(['config:set', 'vault', 'PLAIN=visible']).code).to.equal(0);
    const r = await push(repo, env.server.sshRemote('vault'), { sshCommand: env.key.sshCommand });
    pushOutput = r.stdout + r.stderr;
    expect(r.code, pushOutput).to.equal(0);

    const patch = await api(env.server, token, '/api/v1/apps/vault/config', {
      method: 'PATCH',
      body: { vars: { DB_PASSWORD: viaApi }, secret: ['DB_PASSWORD'] },
    });
    expect(patch.status, patch.text).to.equal(202);
    const jobPath = patch.location!;
    await eventually(
      async () => ['succeeded', 'failed'].includes((await api(env.server, token, jobPath)).json?.status),
      'the API config release ends',
      120_000,
    );
    const job = await api(env.server, token, jobPath);
    expect(job.json.status, job.text).to.equal('succeeded');
    for (const j of (await api(env.server, token, '/api/v1/apps/vault/jobs')).json) jobIds.push(j.id);
  });

  it('the running app gets the secrets in its environment', async () => {
    expect((await server.get('vault', '/env/API_KEY')).body.trim()).to.equal(viaCli);
    expect((await server.get('vault', '/env/DB_PASSWORD')).body.trim()).to.equal(viaApi);
  });

  it('push output and job logs (CLI and API) show the mask, never the value', async () => {
    expect(pushOutput).to.include(`build sees API_KEY=${MASK}`);
    clean('the push output', pushOutput);
    expect(jobIds.length).to.be.at.least(2);
    for (const id of jobIds) {
      const cli = server.cli(['jobs:log', String(id)]);
      expect(cli.code, cli.stderr).to.equal(0);
      clean(`jobs:log ${id}`, cli.stdout);
      const viaApiLog = await api(server, token, `/api/v1/jobs/${id}/log`);
      expect(viaApiLog.status).to.equal(200);
      clean(`the API log of job ${id}`, viaApiLog.text);
    }
  });

  it('config, config:get and the API list secrets masked; --reveal shows them', async () => {
    const list = server.cli(['config', 'vault']);
    expect(list.stdout).to.match(/^API_KEY:\s+\*{8} \(secret\)$/m);
    expect(list.stdout).to.match(/^DB_PASSWORD:\s+\*{8} \(secret\)$/m);
    expect(list.stdout).to.match(/^PLAIN:\s+visible$/m);
    clean('config', list.stdout);
    clean('config --shell', server.cli(['config', 'vault', '--shell']).stdout);
    expect(server.cli(['config:get', 'vault', 'API_KEY']).stdout.trim()).to.equal(MASK);
    expect(server.cli(['config:get', 'vault', 'API_KEY', '--reveal']).stdout.trim()).to.equal(viaCli);
    expect(server.cli(['config:get', 'vault', 'DB_PASSWORD', '--reveal']).stdout.trim()).to.equal(viaApi);

    const listed = await api(server, token, '/api/v1/apps/vault/config');
    expect(listed.json).to.deep.equal({
      app: 'vault',
      vars: { API_KEY: MASK, DB_PASSWORD: MASK, PLAIN: 'visible' },
      secret: ['API_KEY', 'DB_PASSWORD'],
    });
    expect((await api(server, token, '/api/v1/apps/vault/config?reveal=1')).json.vars).to.deep.equal({
      API_KEY: viaCli,
      DB_PASSWORD: viaApi,
      PLAIN: 'visible',
    });
    for (const p of [
      '/api/v1/apps',
      '/api/v1/apps/vault',
      '/api/v1/apps/vault/releases',
      '/api/v1/apps/vault/releases/v2',
      '/api/v1/apps/vault/jobs',
    ])
      clean(p, (await api(server, token, p)).text);
    for (const v of ['v1', 'v2']) clean(`releases:info ${v}`, server.cli(['releases:info', 'vault', v]).stdout);
  });

  it('another member can neither reveal nor read them: the app does not exist for them', async () => {
    expect(server.cli(['users:add', 'mallory']).code).to.equal(0);
    const theirs = server.cli(['tokens:create', '--user', 'mallory']).stdout.trim();
    const revealed = await api(server, theirs, '/api/v1/apps/vault/config?reveal=1');
    expect(revealed.status).to.equal(404);
    clean('a member asking the API', revealed.text);
    const remote = spawnSync(BIN, ['config:get', 'vault', 'API_KEY', '--reveal'], {
      env: { ...server.env, SLIPWAY_URL: `http://127.0.0.1:${server.ports.http}`, SLIPWAY_TOKEN: theirs },
      encoding: 'utf8',
    });
    expect(remote.status).to.not.equal(0);
    expect(remote.stderr.trim().split('\n')).to.have.length(1);
    clean('a member asking the CLI', remote.stdout + remote.stderr);
  });

  it("the app's log shows what it printed, masked", async () => {
    await eventually(
      () => server.cli(['logs', 'vault', '-n', '200']).stdout.includes(`runtime sees API_KEY=${MASK} DB_PASSWORD=${MASK}`),
      'the masked start line in the log',
    );
    clean('slipway logs', server.cli(['logs', 'vault', '-n', '500']).stdout);
  });

  it('the database holds them sealed: not in slipway.db, -wal or -shm, before and after a checkpoint', () => {
    const rows = query(
      server.home,
      "SELECT key, value, secret FROM config_vars WHERE app_id = (SELECT id FROM apps WHERE name = 'vault') ORDER BY key",
    );
    expect(rows.map((r) => [r.key, r.secret])).to.deep.equal([
      ['API_KEY', 1],
      ['DB_PASSWORD', 1],
      ['PLAIN', 0],
    ]);
    expect(rows[0].value).to.match(/^v1:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
    const snapshot = JSON.parse(
      query(server.home, "SELECT config FROM releases WHERE version = 2 AND app_id = (SELECT id FROM apps WHERE name = 'vault')")[0].config,
    );
    expect(snapshot.DB_PASSWORD.secret).to.match(/^v1:/);
    const dbFiles = () =>
      ['slipway.db', 'slipway.db-wal', 'slipway.db-shm'].map((f) => path.join(server.home, f)).filter((f) => fs.existsSync(f));
    const check = () => {
      for (const f of dbFiles())
        for (const s of secrets) expect(fs.readFileSync(f).includes(Buffer.from(s)), `${f} holds a secret`).to.equal(false);
    };
    check();
    const db = new Database(path.join(server.home, 'slipway.db'));
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    check();
  });

  it('no file under SLIPWAY_HOME holds them (logs, archives, build env); the key file is 0600', () => {
    for (const s of secrets) expect(filesHolding(server.home, s)).to.deep.equal([]);
    expect(fs.statSync(path.join(server.home, 'secret.key')).mode & 0o777).to.equal(0o600);
  });

  it('a rollback restores the sealed config of the old release', async () => {
    const r = server.cli(['rollback', 'vault', 'v1']);
    expect(r.code, r.stderr).to.equal(0);
    clean('rollback output', r.stdout + r.stderr);
    expect((await server.get('vault', '/env/API_KEY')).body.trim()).to.equal(viaCli);
    expect((await server.get('vault', '/env/DB_PASSWORD')).body.trim()).to.equal('(unset)');
    expect(server.cli(['config:get', 'vault', 'API_KEY', '--reveal']).stdout.trim()).to.equal(viaCli);
  });

  it('the server refuses to start when the key file is readable by others', async () => {
    await server.stop();
    const keyFile = path.join(server.home, 'secret.key');
    fs.chmodSync(keyFile, 0o644);
    const r = spawnSync(BIN, ['server'], { env: server.env, encoding: 'utf8', timeout: 60_000 });
    fs.chmodSync(keyFile, 0o600);
    expect(r.status).to.not.equal(0);
    expect(r.stderr.trim().split('\n')).to.have.length(1);
    expect(r.stderr).to.include(`${keyFile} has mode 0644`).and.include(`chmod 600 ${keyFile}`);
  });
});
