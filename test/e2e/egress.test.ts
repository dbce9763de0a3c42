import { expect } from 'chai';
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { api } from '../api/http.js';
import { query } from './db.js';
import { appRepo, commitAll, eventually, push, tmpdir, useServer, type Result, type TestServer } from './harness.js';

/**
 * Each attack of issue 11 on egress, as a plain member (alice, with apps of
 * her own) sends it: the daemon is still up afterwards (useServer's guard),
 * nothing outside her app changed, and the refusal says why. Servers that a
 * fetch may reach listen on 127.0.0.2 (the only range --egress-allow names);
 * the trap on 127.0.0.1 and ::1 must never see a connection.
 */
const ALLOWED = '127.0.0.2';
const ADMIN_ONLY = 'only an admin may set file URLs and host paths';

describe('e2e: egress, as a member would attack it', function () {
  this.timeout(300_000);
  const env = useServer({
    env: { SLIPWAY_EGRESS_ALLOW: `${ALLOWED}/32`, SLIPWAY_EGRESS_IDLE_TIMEOUT: '2', SLIPWAY_WEBHOOK_RETRY_MS: '50' },
  });
  let server: TestServer;
  let alice = '';
  const trapHits: string[] = [];
  let trapPort = 0;
  let files = '';
  let stallPort = 0;
  let archive: { path: string; sha256: string };
  const closers: Array<() => void> = [];
  const stalled: net.Socket[] = [];

  /** A command as alice, through the API's remote-CLI channel (what `slipway` with her token sends). */
  const asAlice = async (argv: string[]): Promise<Result> => {
    const r = await api(server, { method: 'POST', path: '/api/v1/cli', token: alice, body: { argv } });
    if (r.status !== 200) return { code: 1, stdout: '', stderr: `${r.json?.message ?? r.text}\n` };
    const lines = r.text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { out?: string; err?: string; exit?: number });
    return {
      code: lines.find((l) => l.exit !== undefined)?.exit ?? -1,
      stdout: lines.map((l) => l.out ?? '').join(''),
      stderr: lines.map((l) => l.err ?? '').join(''),
    };
  };
  const ok = async (args: string[]) => {
    const r = await asAlice(args);
    expect(r.code, `alice: slipway ${args.join(' ')}: ${r.stderr}${r.stdout}`).to.equal(0);
    return r.stdout;
  };
  const refused = async (args: string[], message: string | RegExp) => {
    const r = await asAlice(args);
    expect(r.code, `alice: slipway ${args.join(' ')} should fail: ${r.stdout}`).to.not.equal(0);
    if (typeof message === 'string') expect(r.stderr + r.stdout).to.include(message);
    else expect(r.stderr + r.stdout).to.match(message);
    return r.stderr + r.stdout;
  };
  const admin = (args: string[]) => {
    const r = server.cli(args);
    expect(r.code, `slipway ${args.join(' ')}: ${r.stderr}${r.stdout}`).to.equal(0);
    return r.stdout;
  };
  /** Writes a setting as some other way in than apps:set would: the use-time check must stand on its own. */
  const writeSetting = (app: string, key: string, value: string) => {
    const db = new Database(path.join(server.home, 'slipway.db'));
    try {
      db.pragma('busy_timeout = 5000');
      const row = db.prepare('SELECT settings FROM apps WHERE name = ?').get(app) as { settings: string };
      db.prepare('UPDATE apps SET settings = ? WHERE name = ?').run(JSON.stringify({ ...JSON.parse(row.settings), [key]: value }), app);
    } finally {
      db.close();
    }
  };
  const setting = (app: string, key: string) =>
    JSON.parse(query(server.home, 'SELECT settings FROM apps WHERE name = ?', app)[0].settings)[key];
  const releases = (app: string) =>
    query(
      server.home,
      'SELECT r.version, r.status FROM releases r JOIN apps a ON a.id = r.app_id WHERE a.name = ? ORDER BY r.version',
      app,
    );
  const fileSha = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

  before(async () => {
    server = env.server;
    admin(['users:add', 'alice']);
    alice = admin(['tokens:create', '--user', 'alice']).trim();

    // Someone else's app, with a release archive and a repository alice must not reach.
    admin(['apps:create', 'other']);
    expect((await push(appRepo('env-app'), server.sshRemote('other'), { sshCommand: env.key.sshCommand })).code).to.equal(0);
    const row = query(
      server.home,
      "SELECT r.archive_path, r.sha256 FROM releases r JOIN apps a ON a.id = r.app_id WHERE a.name = 'other'",
    )[0];
    archive = { path: row.archive_path, sha256: row.sha256 };

    for (const host of ['127.0.0.1', '::1']) {
      const trap = net.createServer((c) => {
        trapHits.push(`${host} ${c.remoteAddress}`);
        c.destroy();
      });
      await new Promise<void>((r) => trap.listen(trapPort, host, () => r()));
      trapPort = (trap.address() as net.AddressInfo).port;
      closers.push(() => trap.close());
    }

    const copy = path.join(tmpdir('artifact'), 'app.tar.gz');
    fs.copyFileSync(archive.path, copy);
    const fileServer = http.createServer((req, res) => {
      if (req.url === '/app.tar.gz') return void fs.createReadStream(copy).pipe(res);
      if (req.url === '/to-api') return void res.writeHead(302, { location: `http://127.0.0.1:${server.ports.http}/api/v1/health` }).end();
      if (req.url === '/hook500') return void req.resume().on('end', () => res.writeHead(500).end('SECRET-INTERNAL-PAGE of the receiver'));
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => fileServer.listen(0, ALLOWED, () => r()));
    files = `http://${ALLOWED}:${(fileServer.address() as net.AddressInfo).port}`;
    // Accepts, then never says a word.
    const stall = net.createServer((c) => void stalled.push(c));
    await new Promise<void>((r) => stall.listen(0, ALLOWED, () => r()));
    stallPort = (stall.address() as net.AddressInfo).port;
    closers.push(
      () => fileServer.close(),
      () => {
        stalled.forEach((s) => s.destroy());
        stall.close();
      },
    );

    await ok(['apps:create', 'mine', '--env', 'prod']);
    await ok(['apps:create', 'mine-dev', '--env', 'dev']);
    await ok(['apps:create', 'mine-stg', '--env', 'staging']);
  });

  after(() => {
    closers.forEach((c) => c());
    expect(trapHits, 'connections to a forbidden address').to.deep.equal([]);
    // A 5xx is logged as `api: METHOD URL: …`; none happened.
    expect(server.output).to.not.match(/^api: /m);
  });

  it('refuses an image reference that climbs out of the image namespace (it used to kill the daemon)', async () => {
    for (const [method, suffix] of [
      ['GET', ''],
      ['DELETE', ''],
      ['POST', '/tags'],
    ] as const) {
      const r = await api(server, {
        method,
        path: `/api/v1/images/x%2f..%2f..%2f127.0.0.1:${trapPort}%2fz${suffix}`,
        token: alice,
        body: method === 'POST' ? { tag: 'x' } : undefined,
      });
      expect(r.status, r.text).to.equal(404);
      expect(r.json).to.include({ error: 'not_found' });
      expect(r.json.message).to.match(/^image "x\/\.\.\/\.\.\/127\.0\.0\.1:\d+\/z" not found$/);
    }
    const traversal = await api(server, { path: '/api/v1/apps/..%2f..%2fetc/releases', token: alice });
    expect(traversal.status).to.equal(422);
    expect(traversal.json.message).to.equal('invalid app name "../../etc"');
    const job = await api(server, { path: '/api/v1/jobs/1%2f..%2f..%2f..', token: alice });
    expect(job.status).to.equal(400);
    expect(job.json.message).to.equal('"1/../../.." is not a valid id');
    expect((await api(server, { path: '/api/v1/health' })).status).to.equal(200);
  });

  it("refuses artifact_urls naming files of the server (control.sock, a FIFO, another app's archive, /etc/shadow), when set and when used", async () => {
    const fifo = path.join(tmpdir('fifo'), 'pipe');
    expect(spawnSync('mkfifo', [fifo]).status).to.equal(0);
    const targets = [`file://${server.home}/control.sock`, `file://${fifo}`, `file://${archive.path}`, 'file:///etc/shadow'];
    for (const url of targets)
      await refused(
        ['apps:set', 'mine', `artifact_urls=${url}`],
        `artifact_urls: ${url} names a file or directory on the server; ${ADMIN_ONLY}`,
      );
    expect(setting('mine', 'artifact_urls')).to.equal(undefined);
    // Written some other way, not by an admin: the deploy refuses it on its own.
    for (const url of targets) {
      writeSetting('mine', 'artifact_urls', url);
      await refused(['deploy', 'mine'], `artifact_urls: ${url} names a file or directory on the server; ${ADMIN_ONLY}`);
    }
    expect(releases('mine').every((r) => r.status === 'failed')).to.equal(true);
    expect(fileSha(archive.path)).to.equal(archive.sha256);

    // Set by an admin, a FIFO or a socket still is no regular file: refused at once, nothing waits on it.
    admin(['apps:set', 'mine', `artifact_urls=file://${fifo}`]);
    await refused(['deploy', 'mine'], `artifact_urls: file://${fifo} is a FIFO; only regular files are read`);
    admin(['apps:set', 'mine', `artifact_urls=file://${server.home}/control.sock`]);
    await refused(['deploy', 'mine'], 'is a socket; only regular files are read');
    // And a member's change drops the admin's trust even for the very same value.
    await refused(['apps:set', 'mine', `artifact_urls=file://${archive.path}`], ADMIN_ONLY);
    expect((await server.get('other')).body.trim()).to.equal('env app v1');
  });

  it('refuses artifact_urls that are, or redirect to, a loopback address (the API itself)', async () => {
    await refused(
      ['apps:set', 'mine', `artifact_urls=http://127.0.0.1:${server.ports.http}/api/v1/health`],
      `artifact_urls: http://127.0.0.1:${server.ports.http}/api/v1/health resolves to 127.0.0.1, a loopback address; only an admin may allow it (slipway server --egress-allow 127.0.0.1/32)`,
    );
    await refused(
      ['apps:set', 'mine', 'artifact_urls=http://169.254.169.254/latest/meta-data/'],
      'a link-local address (cloud metadata lives there)',
    );
    await refused(['apps:set', 'mine', `artifact_urls=http://[::1]:${trapPort}/x`], 'resolves to ::1, a loopback address');
    await ok(['apps:set', 'mine', `artifact_urls=${files}/to-api`]);
    await refused(
      ['deploy', 'mine'],
      `artifact_urls: ${files}/to-api (redirected to http://127.0.0.1:${server.ports.http}/api/v1/health) resolves to 127.0.0.1, a loopback address`,
    );
    await ok(['apps:set', 'mine', `artifact_urls=http://localhost:${trapPort}/x`]);
    await refused(['deploy', 'mine'], /artifact_urls: http:\/\/localhost:\d+\/x resolves to (127\.0\.0\.1|::1), a loopback address/);
  });

  it("fails a deploy from a server that accepts and never answers within the idle timeout; the app's queue keeps working", async () => {
    await ok(['apps:set', 'mine', `artifact_urls=http://${ALLOWED}:${stallPort}/a.tgz`]);
    const deploy = refused(
      ['deploy', 'mine'],
      `artifact_urls: http://${ALLOWED}:${stallPort}/a.tgz sent nothing for 2s (egress idle timeout); the transfer stalled`,
    );
    // While it hangs on the silent server, everything else answers.
    await eventually(() => stalled.length > 0, 'the fetch to connect');
    expect((await server.get('other')).body.trim()).to.equal('env app v1');
    expect((await api(server, { path: '/api/v1/apps/other', token: alice })).status).to.equal(404);
    await deploy;
    await ok(['apps:set', 'mine', `artifact_urls=${files}/app.tar.gz#sha256=${archive.sha256}`]);
    await ok(['deploy', 'mine']);
    expect((await server.get('mine')).body.trim()).to.equal('env app v1');
  });

  it("refuses origin=file:// of another app's repository and origins at internal addresses", async () => {
    const theirs = `file://${server.home}/repos/other.git`;
    await refused(['apps:set', 'mine-dev', `origin=${theirs}`], `origin: ${theirs} names a file or directory on the server; ${ADMIN_ONLY}`);
    await refused(['apps:set', 'mine-dev', `origin=http://127.0.0.1:${trapPort}/x.git`], 'resolves to 127.0.0.1, a loopback address');
    writeSetting('mine-dev', 'origin', theirs);
    await refused(['deploy', 'mine-dev'], `origin: ${theirs} names a file or directory on the server; ${ADMIN_ONLY}`);
    await ok(['apps:set', 'mine-dev', `origin=git://localhost:${trapPort}/x.git`]);
    await refused(['deploy', 'mine-dev'], /origin: git:\/\/localhost:\d+\/x\.git resolves to (127\.0\.0\.1|::1), a loopback address/);
    expect(fs.existsSync(path.join(server.home, 'apps', 'mine-dev', 'work', 'server.js'))).to.equal(false);
  });

  it('refuses buildpacks at host paths or internal addresses: the setting, BUILDPACK_URL and a pushed .buildpacks', async () => {
    await refused(
      ['apps:set', 'mine-stg', 'buildpack_url=/usr/lib'],
      `buildpack_url: /usr/lib names a file or directory on the server; ${ADMIN_ONLY}`,
    );
    await refused(['apps:set', 'mine-stg', `buildpack_url=file://${server.home}/repos/other.git`], ADMIN_ONLY);
    await refused(['apps:set', 'mine-stg', `buildpack_url=https://127.0.0.1:${trapPort}/bp.git`], 'a loopback address');
    await refused(
      ['config:set', 'mine-stg', 'BUILDPACK_URL=/usr/lib'],
      `BUILDPACK_URL: /usr/lib names a file or directory on the server; ${ADMIN_ONLY}`,
    );
    const patched = await api(server, {
      method: 'PATCH',
      path: '/api/v1/apps/mine-stg/config',
      token: alice,
      body: { vars: { BUILDPACK_URL: `file://${server.home}` } },
    });
    expect(patched.status, patched.text).to.equal(422);
    expect(patched.json).to.include({
      error: 'egress_refused',
      message: `BUILDPACK_URL: file://${server.home} names a file or directory on the server; ${ADMIN_ONLY}`,
    });
    expect(
      query(server.home, "SELECT count(*) AS n FROM config_vars c JOIN apps a ON a.id = c.app_id WHERE a.name = 'mine-stg'")[0].n,
    ).to.equal(0);

    const repo = appRepo('env-app');
    const remote = server.httpRemote('mine-stg', alice);
    for (const [line, why] of [
      ['/usr/lib/git-core', `.buildpacks: /usr/lib/git-core names a file or directory on the server; ${ADMIN_ONLY}`],
      ['../../../../../../usr/lib', ".buildpacks: ../../../../../../usr/lib points outside the app's source"],
      [`git://localhost:${trapPort}/bp.git`, '.buildpacks: git://localhost'],
    ]) {
      fs.writeFileSync(path.join(repo, '.buildpacks'), `${line}\n`);
      commitAll(repo, `buildpack ${line}`);
      const r = await push(repo, remote);
      expect(r.code).to.equal(0); // The deploy runs after the push; it fails, not the push.
      expect(r.stderr).to.include(why);
    }
    expect(fs.readdirSync(path.join(server.home, 'apps', 'mine-stg', 'archives'))).to.deep.equal([]);
  });

  it('delivers webhooks only to allowed addresses and never shows what a receiver answered', async () => {
    await refused(['webhooks:add', 'mine', `http://127.0.0.1:${trapPort}/hook`], 'webhook URL: http://127.0.0.1');
    await refused(['webhooks:add', 'mine', `http://[::ffff:127.0.0.1]:${trapPort}/hook`], 'a loopback address');
    await ok(['webhooks:add', 'mine', `http://localhost:${trapPort}/hook`]);
    await ok(['webhooks:add', 'mine', `${files}/hook500`]);
    writeSetting('mine', 'artifact_urls', `${files}/missing.tgz`);
    await refused(['deploy', 'mine'], 'answered 404');
    let listing = '';
    await eventually(async () => {
      listing = (await asAlice(['webhooks:deliveries', 'mine'])).stdout;
      return (listing.match(/\bfailed\b/g) ?? []).length >= 2;
    }, 'both deliveries to give up');
    expect(listing).to.match(/webhook \d+: http:\/\/localhost:\d+\/hook resolves to (127\.0\.0\.1|::1), a loopback/);
    expect(listing).to.match(/HTTP 500 after \d+\.\d\ds/);
    expect(listing).to.not.include('SECRET');
    expect(
      query(server.home, 'SELECT last_error FROM webhook_deliveries')
        .map((r) => r.last_error)
        .join('\n'),
    ).to.not.include('SECRET');
  });
});
