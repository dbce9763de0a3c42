import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';
import { EXAMPLES, appRepo, push, tmpdir, useServer, type TestServer } from './harness.js';
import { query } from './db.js';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  json: any;
}

const sha256 = (data: Buffer) => crypto.createHash('sha256').update(data).digest('hex');

/** One request to the API, the body kept as bytes (archives are binary). */
function request(
  server: TestServer,
  opts: { method?: string; path: string; token?: string; headers?: Record<string, string>; body?: Buffer | string; chunks?: Buffer[] },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    const req = http.request(
      // A connection each, as curl has: a reused keep-alive socket can be one the server is closing at that moment.
      { host: '127.0.0.1', port: server.ports.http, method: opts.method ?? 'GET', path: opts.path, headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          let json: any;
          try {
            json = JSON.parse(body.toString('utf8'));
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json });
        });
      },
    );
    req.on('error', reject);
    if (opts.chunks) {
      // Chunked, no Content-Length: the server only learns the size by reading.
      for (const c of opts.chunks) req.write(c);
      req.end();
    } else req.end(opts.body);
  });
}

/** `curl` exactly as a Jenkins job runs it; returns the last response's status, headers and body. */
function curl(args: string[]): { status: number; headers: Record<string, string>; body: string; json: any; stderr: string } {
  const dir = tmpdir('curl');
  const r = spawnSync('curl', ['-sS', '-D', path.join(dir, 'headers'), '-o', path.join(dir, 'body'), '-w', '%{http_code}', ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  const blocks = fs.existsSync(path.join(dir, 'headers'))
    ? fs
        .readFileSync(path.join(dir, 'headers'), 'utf8')
        .trim()
        .split(/\r?\n\r?\n/)
    : [''];
  const headers: Record<string, string> = {};
  for (const line of blocks.at(-1)!.split(/\r?\n/).slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  const body = fs.existsSync(path.join(dir, 'body')) ? fs.readFileSync(path.join(dir, 'body'), 'utf8') : '';
  let json: any;
  try {
    json = JSON.parse(body);
  } catch {
    json = undefined;
  }
  return { status: Number(r.stdout), headers, body, json, stderr: r.stderr };
}

/** A runnable app directory: a Procfile and a server that answers `message`. */
function appDir(message: string, procfile = 'web: node server.js\n'): string {
  const dir = tmpdir('artifact-src');
  fs.copyFileSync(path.join(EXAMPLES, 'procfile-hello', 'server.js'), path.join(dir, 'server.js'));
  fs.writeFileSync(path.join(dir, 'message.txt'), `${message}\n`);
  fs.writeFileSync(path.join(dir, 'Procfile'), procfile);
  return dir;
}

/** `tar -czf` with GNU tar, as CI builds its artifact; extra args make hostile entries. */
function tgz(dir: string, args: string[] = ['.']): string {
  const file = path.join(tmpdir('artifact'), 'app.tgz');
  const r = spawnSync('tar', ['-czf', file, '-C', dir, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tar failed: ${r.stderr}`);
  return file;
}

describe('e2e: the REST API (jobs, releases, artifacts, builds, promotions)', function () {
  this.timeout(300_000);
  const env = useServer({ env: { SLIPWAY_MAX_UPLOAD_MB: '1' } });
  let server: TestServer;
  let token: string;
  const base = () => `http://127.0.0.1:${server.ports.http}`;
  const count = (table: 'jobs' | 'releases') => query<{ n: number }>(server.home, `SELECT count(*) AS n FROM ${table}`)[0]!.n;
  const uploadsLeft = (app: string) => {
    const dir = path.join(server.home, 'apps', app, 'uploads');
    return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
  };

  /** Polls a job URL the way CI does, until it answers 303 (succeeded) or says failed. */
  async function waitForJob(url: string): Promise<Answer> {
    const end = Date.now() + 180_000;
    while (Date.now() < end) {
      const r = await request(server, { path: url, token });
      if (r.status === 303 || r.json?.status === 'failed') return r;
      expect(r.status, r.body.toString()).to.equal(200);
      await new Promise((res) => setTimeout(res, 300));
    }
    throw new Error(`job ${url} did not finish`);
  }

  const uploadArtifact = (file: string, app: string, sha = sha256(fs.readFileSync(file))) =>
    curl([
      '--data-binary',
      `@${file}`,
      '-H',
      'Content-Type: application/gzip',
      '-H',
      `Authorization: Bearer ${token}`,
      `${base()}/api/v1/apps/${app}/artifacts?sha256=${sha}`,
    ]);

  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(`slipway server output:\n${server.output}`);
  });

  // Every test may run alone: the staging app they share is created and deployed (v1) here.
  before(async () => {
    server = env.server;
    token = server.cli(['tokens:create', '--name', 'jenkins']).stdout.trim();
    expect(token).to.have.length.greaterThan(10);
    expect(server.cli(['apps:create', 'stg', '--env', 'staging']).code).to.equal(0);
    const pushed = await push(appRepo('procfile-hello'), server.httpRemote('stg', token));
    expect(pushed.code, pushed.stderr).to.equal(0);
  });

  it('needs a token everywhere but the index and health: 401 JSON with a hint', async () => {
    expect((await request(server, { path: '/api/v1' })).json.name).to.equal('slipway');
    expect((await request(server, { path: '/api/v1/health' })).json).to.deep.equal({ ok: true });
    for (const p of ['/api/v1/apps', '/api/v1/jobs/1', '/api/v1/jobs/1/log', '/api/v1/apps/stg/releases']) {
      const r = await request(server, { path: p });
      expect(r.status, p).to.equal(401);
      expect(r.json.error).to.equal('unauthorized');
      expect(r.json.hint).to.include('Bearer');
      expect(r.headers['www-authenticate']).to.match(/^Bearer/);
    }
    expect((await request(server, { path: '/api/v1/apps', token: 'nope' })).status).to.equal(401);
    const basic = await request(server, {
      path: '/api/v1/apps',
      headers: { authorization: `Basic ${Buffer.from(`jenkins:${token}`).toString('base64')}` },
    });
    expect(basic.status).to.equal(200);
    const before = count('jobs');
    const r = curl([
      '--data-binary',
      '@/dev/null',
      '-H',
      'Content-Type: application/gzip',
      `${base()}/api/v1/apps/stg/artifacts?sha256=${'0'.repeat(64)}`,
    ]);
    expect(r.status).to.equal(401);
    expect(count('jobs')).to.equal(before);
  });

  it('serves a staging release archive whose sha256 matches the bytes and the ledger', async () => {
    expect((await server.get('stg')).body.trim()).to.equal('Hello from Slipway');

    const list = await request(server, { path: '/api/v1/apps/stg/releases', token });
    expect(list.status).to.equal(200);
    expect(list.json).to.have.length(1);
    expect(list.json[0]).to.include({
      version: 'v1',
      live: true,
      status: 'succeeded',
      archive_url: '/api/v1/apps/stg/releases/v1/archive',
    });
    expect(list.json[0]).to.not.have.property('config');
    const one = await request(server, { path: '/api/v1/apps/stg/releases/1', token });
    expect(one.json.version).to.equal('v1');

    const r = await request(server, { path: '/api/v1/apps/stg/releases/v1/archive', token });
    expect(r.status).to.equal(200);
    expect(r.headers['content-type']).to.equal('application/gzip');
    expect(Number(r.headers['content-length'])).to.equal(r.body.length);
    expect(r.headers['content-disposition']).to.equal('attachment; filename="stg-v1.tar.gz"');
    const ledger = query<{ sha256: string }>(
      server.home,
      "SELECT r.sha256 FROM releases r JOIN apps a ON a.id = r.app_id WHERE a.name = 'stg' AND r.version = 1",
    )[0]!.sha256;
    expect(sha256(r.body)).to.equal(ledger);
    expect(r.headers['x-slipway-sha256']).to.equal(ledger);
    expect(r.headers.digest).to.equal(`sha-256=${Buffer.from(ledger, 'hex').toString('base64')}`);
    expect(list.json[0].sha256).to.equal(ledger);

    const missing = await request(server, { path: '/api/v1/apps/stg/releases/v9/archive', token });
    expect(missing.status).to.equal(404);
    expect(missing.json.hint).to.be.a('string');
  });

  it('deploys an artifact Jenkins uploads with one curl, without a build', async () => {
    const file = tgz(appDir('Built by Jenkins'));
    const sha = sha256(fs.readFileSync(file));
    const r = uploadArtifact(file, 'stg');
    expect(r.status, r.body + r.stderr).to.equal(202);
    expect(r.headers.location).to.equal(`/api/v1/jobs/${r.json.id}`);
    expect(r.json).to.include({ url: r.headers.location });
    expect(r.json.status).to.be.oneOf(['queued', 'running']);

    const done = await waitForJob(r.headers.location!);
    expect(done.status, JSON.stringify(done.json)).to.equal(303);
    expect(done.headers.location).to.equal('/api/v1/apps/stg/releases/v2');
    expect(done.json).to.include({
      app: 'stg',
      kind: 'upload',
      status: 'succeeded',
      release: 'v2',
      log_url: `/api/v1/jobs/${r.json.id}/log`,
    });
    expect(done.json.stages.find((s: any) => s.stage === 'build').status).to.equal('skipped');
    expect((await server.get('stg')).body.trim()).to.equal('Built by Jenkins');

    const release = await request(server, { path: done.headers.location!, token });
    expect(release.json).to.include({ version: 'v2', kind: 'artifact', live: true, sha256: sha });
    const log = await request(server, { path: done.json.log_url, token });
    expect(log.headers['content-type']).to.match(/^text\/plain/);
    expect(log.body.toString()).to.include('uploaded artifact');
    expect(uploadsLeft('stg')).to.deep.equal([]);
  });

  it('refuses bad uploads with a clear 4xx before any job exists, writing nothing outside the app', async () => {
    const evil = `/tmp/slipway-evil-${crypto.randomBytes(4).toString('hex')}`;
    const good = appDir('never deployed');
    fs.writeFileSync(path.join(good, 'payload'), 'pwned\n');
    const dotdot = tgz(good, [
      '-P',
      'Procfile',
      'server.js',
      'payload',
      '--transform',
      `s,^payload$,../../../../../../../../..${evil}/pwned,`,
    ]);
    const absolute = tgz(good, ['-P', 'Procfile', 'server.js', 'payload', '--transform', `s,^payload$,${evil}/pwned,`]);
    fs.symlinkSync(evil, path.join(good, 'escape'));
    const symlink = tgz(good, ['Procfile', 'server.js', 'escape', 'payload', '--transform', 's,^payload$,escape/pwned,']);
    fs.rmSync(path.join(good, 'escape'));
    const device = path.join(tmpdir('device'), 'app.tgz');
    const py = spawnSync('python3', [
      '-c',
      `
import io, sys, tarfile
with tarfile.open(sys.argv[1], 'w:gz') as t:
    ti = tarfile.TarInfo('Procfile'); data = b'web: node server.js\\n'; ti.size = len(data); t.addfile(ti, io.BytesIO(data))
    ti = tarfile.TarInfo('null'); ti.type = tarfile.CHRTYPE; ti.devmajor = 1; ti.devminor = 3; t.addfile(ti)
`,
      device,
    ]);
    expect(py.status, String(py.stderr)).to.equal(0);
    const noProcfile = appDir('no procfile');
    fs.rmSync(path.join(noProcfile, 'Procfile'));
    const noProcfileFile = tgz(noProcfile);
    const nested = tmpdir('nested');
    fs.cpSync(appDir('nested'), path.join(nested, 'myapp'), { recursive: true });
    const notGzip = path.join(tmpdir('plain'), 'app.tgz');
    fs.writeFileSync(notGzip, 'this is a zip file, honest\n');
    const gzipNotTar = path.join(tmpdir('gz'), 'app.tgz');
    fs.writeFileSync(gzipNotTar, zlib.gzipSync(Buffer.from('plain text, not a tar')));
    const big = path.join(tmpdir('big'), 'app.tgz');
    fs.writeFileSync(big, Buffer.concat([Buffer.from([0x1f, 0x8b]), crypto.randomBytes(2 * 1024 * 1024)]));

    const jobs = count('jobs');
    const releases = count('releases');
    const serving = (await server.get('stg')).body;
    const auth = ['-H', `Authorization: Bearer ${token}`];
    const url = (sha?: string) => `${base()}/api/v1/apps/stg/artifacts${sha ? `?sha256=${sha}` : ''}`;
    const shaOf = (f: string) => sha256(fs.readFileSync(f));
    const cases: Array<[string, string[], number, RegExp]> = [
      [
        'a wrong sha256',
        ['--data-binary', `@${tgz(appDir('x'))}`, '-H', 'Content-Type: application/gzip', ...auth, url('ab'.repeat(32))],
        422,
        /sha256 is [0-9a-f]{64}, not abab/,
      ],
      [
        'a missing sha256',
        ['--data-binary', `@${tgz(appDir('x'))}`, '-H', 'Content-Type: application/gzip', ...auth, url()],
        400,
        /must say its sha256/,
      ],
      [
        'a malformed sha256',
        ['--data-binary', `@${tgz(appDir('x'))}`, '-H', 'Content-Type: application/gzip', ...auth, url('xyz')],
        422,
        /not a sha256/,
      ],
      [
        'a ../ entry',
        ['--data-binary', `@${dotdot}`, '-H', 'Content-Type: application/gzip', ...auth, url(shaOf(dotdot))],
        422,
        /points outside the app directory/,
      ],
      [
        'an absolute path',
        ['--data-binary', `@${absolute}`, '-H', 'Content-Type: application/gzip', ...auth, url(shaOf(absolute))],
        422,
        /points outside the app directory/,
      ],
      [
        'a symlink pointing outside',
        ['--data-binary', `@${symlink}`, '-H', 'Content-Type: application/gzip', ...auth, url(shaOf(symlink))],
        422,
        /symlink "escape" -> ".*" points outside/,
      ],
      [
        'a device file',
        ['--data-binary', `@${device}`, '-H', 'Content-Type: application/gzip', ...auth, url(shaOf(device))],
        422,
        /CharacterDevice/,
      ],
      [
        'a body that is not gzip',
        ['--data-binary', `@${notGzip}`, '-H', 'Content-Type: application/gzip', ...auth, url(shaOf(notGzip))],
        415,
        /not a gzip file/,
      ],
      [
        'a gzip that is not a tar',
        ['--data-binary', `@${gzipNotTar}`, '-H', 'Content-Type: application/gzip', ...auth, url(shaOf(gzipNotTar))],
        422,
        /not a valid .tar.gz/,
      ],
      [
        'a body over the size limit',
        ['--data-binary', `@${big}`, '-H', 'Content-Type: application/gzip', ...auth, url(shaOf(big))],
        413,
        /larger than this server's limit of 1 MiB/,
      ],
      [
        'an archive without a Procfile',
        ['--data-binary', `@${noProcfileFile}`, '-H', 'Content-Type: application/gzip', ...auth, url(shaOf(noProcfileFile))],
        422,
        /no Procfile/,
      ],
      [
        'a form body (no Content-Type)',
        ['--data-binary', `@${tgz(appDir('x'))}`, ...auth, url('ab'.repeat(32))],
        415,
        /not application\/x-www-form-urlencoded/,
      ],
    ];
    for (const [what, args, status, message] of cases) {
      const r = curl(args);
      expect(r.status, `${what}: ${r.body} ${r.stderr}`).to.equal(status);
      expect(r.json?.message, what).to.match(message);
      expect(r.json.error, what).to.be.a('string');
      expect(r.json.hint, what).to.be.a('string');
      expect(uploadsLeft('stg'), what).to.deep.equal([]);
    }
    const nestedFile = tgz(nested, ['myapp']);
    const n = uploadArtifact(nestedFile, 'stg');
    expect(n.status).to.equal(422);
    expect(n.json.hint).to.include('-C myapp');

    // Over the limit without a Content-Length: refused while reading, and the answer still arrives.
    const chunked = await request(server, {
      method: 'POST',
      path: `/api/v1/apps/stg/artifacts?sha256=${'0'.repeat(64)}`,
      token,
      headers: { 'content-type': 'application/gzip' },
      chunks: [Buffer.from([0x1f, 0x8b]), ...Array.from({ length: 24 }, () => crypto.randomBytes(100_000))],
    });
    expect(chunked.status).to.equal(413);
    expect(chunked.json.error).to.equal('upload_too_large');

    expect(count('jobs')).to.equal(jobs);
    expect(count('releases')).to.equal(releases);
    expect(fs.existsSync(evil)).to.equal(false);
    expect(uploadsLeft('stg')).to.deep.equal([]);
    expect((await server.get('stg')).body).to.equal(serving);
  });

  it('follows a job log live with ?follow=1 until the job ends', async () => {
    const file = tgz(appDir('Followed', 'web: node server.js\nrelease: echo release phase starts && sleep 2 && echo release phase ends\n'));
    const r = uploadArtifact(file, 'stg');
    expect(r.status, r.body).to.equal(202);
    const chunks: Array<{ at: number; text: string; status?: string }> = [];
    await new Promise<void>((resolve, reject) => {
      const req = http.get(
        { host: '127.0.0.1', port: server.ports.http, path: `${r.json.log_url}?follow=1`, headers: { authorization: `Bearer ${token}` } },
        (res) => {
          expect(res.statusCode).to.equal(200);
          expect(res.headers['content-type']).to.match(/^text\/plain/);
          res.setEncoding('utf8');
          res.on('data', (text: string) => chunks.push({ at: Date.now(), text }));
          res.on('end', resolve);
        },
      );
      req.on('error', reject);
    });
    const log = chunks.map((c) => c.text).join('');
    expect(log).to.include('release phase starts');
    expect(log).to.include('release phase ends');
    expect(log).to.match(/v\d+ of stg is live/);
    const starts = chunks.find((c) => c.text.split('\n').some((l) => l.trim() === 'release phase starts'))!;
    const ends = chunks.find((c) => c.text.split('\n').some((l) => l.trim() === 'release phase ends'))!;
    expect(ends.at - starts.at, 'lines arrive as they are written').to.be.greaterThan(1000);
    const job = await request(server, { path: r.json.url, token });
    expect(job.status).to.equal(303);
  });

  it('builds a source tarball POSTed to /builds and serves it', async () => {
    const file = tgz(path.join(EXAMPLES, 'procfile-hello'));
    const r = curl([
      '--data-binary',
      `@${file}`,
      '-H',
      'Content-Type: application/octet-stream',
      '-H',
      `Authorization: Bearer ${token}`,
      `${base()}/api/v1/apps/stg/builds`,
    ]);
    expect(r.status, r.body).to.equal(202);
    const done = await waitForJob(r.headers.location!);
    expect(done.status, JSON.stringify(done.json)).to.equal(303);
    expect(done.json.stages.find((s: any) => s.stage === 'build').status).to.equal('ok');
    expect((await server.get('stg')).body.trim()).to.equal('Hello from Slipway');
    expect(uploadsLeft('stg')).to.deep.equal([]);
  });

  it('promotes staging to production through the API; the archive is byte-identical', async () => {
    expect(server.cli(['apps:create', 'prd', '--env', 'prod']).code).to.equal(0);
    const jobs = count('jobs');
    const build = curl([
      '--data-binary',
      `@${tgz(path.join(EXAMPLES, 'procfile-hello'))}`,
      '-H',
      'Content-Type: application/gzip',
      '-H',
      `Authorization: Bearer ${token}`,
      `${base()}/api/v1/apps/prd/builds`,
    ]);
    expect(build.status, build.body).to.equal(409);
    expect(build.json.error).to.equal('final_never_builds');
    expect(count('jobs')).to.equal(jobs);
    expect(uploadsLeft('prd')).to.deep.equal([]);

    const badVersion = await request(server, {
      method: 'POST',
      path: '/api/v1/apps/prd/promotions',
      token,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ from: 'stg', version: 'latest' }),
    });
    expect(badVersion.status).to.equal(422);
    const noFrom = await request(server, {
      method: 'POST',
      path: '/api/v1/apps/prd/promotions',
      token,
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(noFrom.status).to.equal(422);
    expect(noFrom.json.hint).to.include('from');

    const p = curl([
      '-H',
      'Content-Type: application/json',
      '-H',
      `Authorization: Bearer ${token}`,
      '-d',
      '{"from": "stg"}',
      `${base()}/api/v1/apps/prd/promotions`,
    ]);
    expect(p.status, p.body).to.equal(202);
    expect(p.headers.location).to.equal(`/api/v1/jobs/${p.json.id}`);
    const done = await waitForJob(p.headers.location!);
    expect(done.status, JSON.stringify(done.json)).to.equal(303);
    expect(done.json.stages.find((s: any) => s.stage === 'build').status).to.equal('skipped');
    expect((await server.get('prd')).body.trim()).to.equal((await server.get('stg')).body.trim());
    const [stgLive] = (await request(server, { path: '/api/v1/apps/stg/releases', token })).json.filter((x: any) => x.live);
    const prdRelease = (await request(server, { path: done.headers.location!, token })).json;
    expect(prdRelease.kind).to.equal('promote');
    expect(prdRelease.sha256).to.equal(stgLive.sha256);

    // A final app also takes an artifact straight from CI.
    const art = uploadArtifact(tgz(appDir('Straight to prod')), 'prd');
    expect(art.status, art.body).to.equal(202);
    expect((await waitForJob(art.headers.location!)).status).to.equal(303);
    expect((await server.get('prd')).body.trim()).to.equal('Straight to prod');
  });

  it("answers another user's app and job exactly like missing ones, and validates parameters", async () => {
    expect(server.cli(['users:add', 'bob']).code).to.equal(0);
    const bob = server.cli(['tokens:create', '--user', 'bob']).stdout.trim();
    const same = (a: Answer, b: Answer, nameA: string, nameB: string) => {
      expect(a.status).to.equal(404);
      expect(b.status).to.equal(404);
      expect(a.body.toString().split(nameA).join('NAME')).to.equal(b.body.toString().split(nameB).join('NAME'));
    };
    same(
      await request(server, { path: '/api/v1/apps/stg', token: bob }),
      await request(server, { path: '/api/v1/apps/nosuch', token: bob }),
      'stg',
      'nosuch',
    );
    same(
      await request(server, { path: '/api/v1/apps/stg/releases/v1/archive', token: bob }),
      await request(server, { path: '/api/v1/apps/nosuch/releases/v1/archive', token: bob }),
      'stg',
      'nosuch',
    );
    const jobId = query<{ id: number }>(server.home, 'SELECT max(id) AS id FROM jobs')[0]!.id;
    same(
      await request(server, { path: `/api/v1/jobs/${jobId}`, token: bob }),
      await request(server, { path: '/api/v1/jobs/999999', token: bob }),
      String(jobId),
      '999999',
    );
    expect((await request(server, { path: `/api/v1/jobs/${jobId}/log`, token: bob })).status).to.equal(404);
    const promo = await request(server, {
      method: 'POST',
      path: '/api/v1/apps/prd/promotions',
      token: bob,
      headers: { 'content-type': 'application/json' },
      body: '{"from":"stg"}',
    });
    expect(promo.status).to.equal(404);

    const jobs = count('jobs');
    const file = tgz(appDir('bob was here'));
    const up = curl([
      '--data-binary',
      `@${file}`,
      '-H',
      'Content-Type: application/gzip',
      '-H',
      `Authorization: Bearer ${bob}`,
      `${base()}/api/v1/apps/stg/artifacts?sha256=${sha256(fs.readFileSync(file))}`,
    ]);
    expect(up.status).to.equal(404);
    expect(count('jobs')).to.equal(jobs);

    for (const p of ['/api/v1/apps/Bad..Name', '/api/v1/apps/stg/releases/latest', '/api/v1/jobs/abc']) {
      const r = await request(server, { path: p, token });
      expect(r.status, p).to.equal(422);
      expect(r.json.error).to.equal('invalid');
      expect(r.json.hint).to.be.a('string');
    }
  });
});
