import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { appRepo, push, setMessage, tmpdir, useServer, type TestServer } from '../e2e/harness.js';
import { query } from '../e2e/db.js';
import { until } from '../support/wait.js';
import { api, type Answer as HttpAnswer } from './http.js';
import { requires } from '../support/requires.js';

/** An API answer with its text as `body`, as these tests read it. */
type Answer = Omit<HttpAnswer, 'text'> & { body: string };

async function request(
  server: TestServer,
  opts: { method?: string; path: string; token?: string; headers?: Record<string, string>; body?: Buffer | string },
): Promise<Answer> {
  const { text, ...rest } = await api(server, opts);
  return { ...rest, body: text };
}

const postJson = (server: TestServer, token: string, p: string, body: unknown) =>
  request(server, { method: 'POST', path: p, token, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** Follows a queue URL as a client of the 001 seed does: 200 while it works, then 303 (made) or a failed status. */
async function waitForQueue(server: TestServer, token: string, url: string): Promise<Answer> {
  let last: Answer | undefined;
  await until(
    `job ${url} to end`,
    async () => {
      last = await request(server, { path: url, token });
      if (last.status === 303 || last.json?.status === 'failed') return true;
      expect(last.status, last.body).to.equal(200);
      return false;
    },
    240_000,
  );
  return last!;
}

function docker(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('docker', args, { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A build context directory: a Dockerfile FROM the stack image, and a file it copies. */
function contextDir(dockerfile: string): string {
  const dir = tmpdir('image-ctx');
  fs.writeFileSync(path.join(dir, 'Dockerfile'), dockerfile);
  fs.writeFileSync(path.join(dir, 'hello.txt'), 'hello from the build context\n');
  return dir;
}

function tgz(dir: string, args: string[] = ['.']): Buffer {
  const file = path.join(tmpdir('image-tgz'), 'context.tgz');
  const r = spawnSync('tar', ['-czf', file, '-C', dir, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tar failed: ${r.stderr}`);
  return fs.readFileSync(file);
}

/** A zip made by Python's zipfile (entries named as given, `..` included when asked). */
function zip(entries: Record<string, string>): Buffer {
  const file = path.join(tmpdir('image-zip'), 'context.zip');
  const program =
    'import json, sys, zipfile\nwith zipfile.ZipFile(sys.argv[1], "w") as z:\n    for n, t in json.loads(sys.argv[2]).items(): z.writestr(n, t)';
  const r = spawnSync('python3', ['-c', program, file, JSON.stringify(entries)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`zip failed: ${r.stderr}`);
  return fs.readFileSync(file);
}

const FROM = 'FROM slipway/stack:bookworm\n';

describe('api: containers, images, hosts and the queue (the 001 and 003 seeds)', function () {
  this.timeout(600_000);
  requires('docker', 'stack');
  const env = useServer();
  let server: TestServer;
  let token: string;
  let bobToken: string;
  // Image tags are global to the shared engine: a name no other run uses.
  const app = `ctr-${crypto.randomBytes(3).toString('hex')}`;
  let repo: string;
  const jobs = () => query<{ n: number }>(server.home, 'SELECT count(*) AS n FROM jobs')[0]!.n;
  /** What `slipway logs APP --ps run.N` prints. */
  const oneOffLog = (dyno: string) => server.cli(['logs', app, '--ps', dyno, '-n', '100']).stdout;
  const built: string[] = [];

  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(`slipway server output:\n${server.output}`);
  });

  before(async () => {
    server = env.server;
    token = server.cli(['tokens:create', '--name', 'seed']).stdout.trim();
    expect(server.cli(['users:add', 'bob']).code).to.equal(0);
    bobToken = server.cli(['tokens:create', '--user', 'bob']).stdout.trim();
    expect(server.cli(['apps:create', app]).code).to.equal(0);
    repo = appRepo('procfile-hello');
    const pushed = await push(repo, server.httpRemote(app, token));
    expect(pushed.code, pushed.stderr).to.equal(0);
  });

  after(() => {
    // A suite skipped for a missing engine started nothing.
    if (!env.server) return;
    // Only what this suite built: every image tagged slipway/APP.
    const ids = docker(['images', '-q', '--filter', `label=slipway.app=${app}`])
      .stdout.split('\n')
      .filter(Boolean);
    for (const id of new Set([...ids, ...built])) docker(['rmi', '-f', id]);
  });

  it('The 001 seed flow: POST /api/v1/containers answers 202 with a queue URL that ends in a 303 to the container', async () => {
    const started = await postJson(server, token, '/api/v1/containers', {
      app,
      command: ['sh', '-c', 'echo one-off says hi; exec sleep 300'],
    });
    expect(started.status, started.body).to.equal(202);
    expect(started.headers.location).to.match(/^\/api\/v1\/queue\/\d+$/);
    expect(started.json).to.include({ app, kind: 'run', url: started.headers.location });

    const done = await waitForQueue(server, token, started.headers.location!);
    expect(done.status, done.body).to.equal(303);
    expect(done.json).to.include({ status: 'succeeded', kind: 'run' });
    const url = done.headers.location!;
    expect(url).to.equal(`/api/v1/containers/${app}.v1.run.1`);
    // The jobs resource is the same queue under its other name.
    const asJob = await request(server, { path: `/api/v1/jobs/${started.json.id}`, token });
    expect(asJob.status).to.equal(303);
    expect(asJob.headers.location).to.equal(url);

    const c = await request(server, { path: url, token });
    expect(c.status, c.body).to.equal(200);
    expect(c.json).to.include({
      id: `${app}.v1.run.1`,
      app,
      release: 'v1',
      type: 'run',
      index: 1,
      kind: 'one-off',
      state: 'up',
      driver: 'process',
      restarts: 0,
      port: null,
      exit_code: null,
    });
    expect(c.json.command).to.deep.equal(['sh', '-c', 'echo one-off says hi; exec sleep 300']);
    expect(Date.parse(c.json.started_at)).to.be.a('number').and.not.NaN;

    const list = await request(server, { path: '/api/v1/containers', token });
    expect(list.json.map((x: any) => x.id)).to.include.members([`${app}.v1.web.1`, `${app}.v1.run.1`]);
    expect(list.json.find((x: any) => x.id === `${app}.v1.web.1`)).to.include({ kind: 'formation', type: 'web', release: 'v1' });
    await until('the one-off output in the app log', () => oneOffLog('run.1').includes('run.1: one-off says hi'), 30_000);

    // Someone else's container answers like one that does not exist.
    expect((await request(server, { path: url, token: bobToken })).status).to.equal(404);
    expect((await request(server, { path: '/api/v1/containers', token: bobToken })).json).to.deep.equal([]);
    expect((await request(server, { method: 'DELETE', path: url, token: bobToken })).status).to.equal(404);

    const stopped = await request(server, { method: 'DELETE', path: url, token });
    expect(stopped.status, stopped.body).to.equal(204);
    expect((await request(server, { path: url, token })).status).to.equal(404);
    const after = await request(server, { path: '/api/v1/containers', token });
    expect(after.json.map((x: any) => x.id)).to.not.include(`${app}.v1.run.1`);
    expect(oneOffLog('run.1')).to.match(/slipway\[run\.1\]: Process exited with status/);
    // The app itself never noticed.
    expect((await server.get(app)).body.trim()).to.equal('Hello from Slipway');
  });

  it('keeps an ended one-off listed with its exit status; formation instances are not deleted', async () => {
    const started = await postJson(server, token, '/api/v1/containers', { app, command: 'ls /no/such/dir' });
    expect(started.status, started.body).to.equal(202);
    const done = await waitForQueue(server, token, started.headers.location!);
    expect(done.status, done.body).to.equal(303);
    let c: Answer | undefined;
    await until(
      'the one-off to end',
      async () => (c = await request(server, { path: done.headers.location!, token })).json.finished_at != null,
      30_000,
    );
    expect(c!.json.command).to.deep.equal(['ls', '/no/such/dir']);
    expect(c!.json).to.include({ state: 'crashed' });
    expect(c!.json.exit_code).to.be.a('number').and.not.equal(0);

    const web = await request(server, { method: 'DELETE', path: `/api/v1/containers/${app}.v1.web.1`, token });
    expect(web.status, web.body).to.equal(409);
    expect(web.json.error).to.equal('in_formation');
    expect(web.json.hint).to.include(`ps:scale ${app} web=`);
    expect((await server.get(app)).body.trim()).to.equal('Hello from Slipway');
  });

  it('refuses a one-off it cannot start with one clear 4xx and no job', async () => {
    expect(server.cli(['apps:create', `${app}-empty`]).code).to.equal(0);
    const before = jobs();
    const cases: Array<[unknown, number, string]> = [
      [{ app: `${app}-empty`, command: ['ls'] }, 409, 'no live release'],
      [{ app, command: [] }, 422, 'say what to run'],
      [{ app }, 422, 'say what to run'],
      [{ command: ['ls'] }, 422, 'say which app'],
      [{ app: 'no-such-app', command: ['ls'] }, 404, 'does not exist'],
      [{ app, command: ['ls'], release: 'v99' }, 404, 'not found'],
    ];
    for (const [body, status, message] of cases) {
      const r = await postJson(server, token, '/api/v1/containers', body);
      expect(r.status, `${JSON.stringify(body)}: ${r.body}`).to.equal(status);
      expect(r.json.message).to.include(message);
      expect(r.json.hint, r.body).to.be.a('string');
    }
    expect(jobs()).to.equal(before);
  });

  it('lists the queue of the apps you may see', async () => {
    const mine = await request(server, { path: '/api/v1/queue', token });
    expect(mine.status).to.equal(200);
    expect(mine.json.map((j: any) => j.kind)).to.include.members(['run', 'push']);
    expect(mine.json[0].url).to.match(/^\/api\/v1\/jobs\/\d+$/);
    expect((await request(server, { path: '/api/v1/queue', token: bobToken })).json).to.deep.equal([]);
    const run = mine.json.find((j: any) => j.kind === 'run');
    const log = await request(server, { path: `/api/v1/queue/${run.id}/log`, token });
    expect(log.body).to.include(`Started run.`);
    // The CLI's jobs:wait follows these jobs as it follows deploys.
    const waited = server.cli(['jobs:wait', String(run.id)]);
    expect(waited.code, waited.stderr).to.equal(0);
    expect(waited.stdout).to.include('Started run.');
  });

  it('lists release archives as images, and deletes only those neither live nor the rollback target', async () => {
    const ledger = () =>
      query<{ version: number; sha256: string; status: string }>(
        server.home,
        'SELECT r.version, r.sha256, r.status FROM releases r JOIN apps a ON a.id = r.app_id WHERE a.name = ? ORDER BY r.version',
        app,
      );
    let list = await request(server, { path: `/api/v1/images?app=${app}`, token });
    expect(list.status, list.body).to.equal(200);
    const v1 = list.json.find((i: any) => i.id === `${app}:v1`);
    expect(v1).to.include({
      kind: 'archive',
      app,
      release: 'v1',
      live: true,
      sha256: ledger()[0]!.sha256,
      url: `/api/v1/images/${app}:v1`,
    });
    expect((await request(server, { path: `/api/v1/images/${app}:v1`, token })).json.sha256).to.equal(v1.sha256);
    expect((await request(server, { path: `/api/v1/images/${app}:v1`, token: bobToken })).status).to.equal(404);

    const live = await request(server, { method: 'DELETE', path: `/api/v1/images/${app}:v1`, token });
    expect(live.status, live.body).to.equal(409);
    expect(live.json.message).to.include('the live release');

    // A one-off started on v1 is no member of any formation: the deploys below leave it running.
    const started = await postJson(server, token, '/api/v1/containers', { app, command: ['sleep', '300'] });
    const oneOff = (await waitForQueue(server, token, started.headers.location!)).headers.location!;
    expect(oneOff).to.match(new RegExp(`^/api/v1/containers/${app}\\.v1\\.run\\.\\d+$`));

    setMessage(repo, 'second');
    expect((await push(repo, server.httpRemote(app, token))).code).to.equal(0);
    const target = await request(server, { method: 'DELETE', path: `/api/v1/images/${app}:v1`, token });
    expect(target.status, target.body).to.equal(409);
    expect(target.json.message).to.include('rollback target');

    setMessage(repo, 'third');
    expect((await push(repo, server.httpRemote(app, token))).code).to.equal(0);
    const busy = await request(server, { method: 'DELETE', path: `/api/v1/images/${app}:v1`, token });
    expect(busy.status, busy.body).to.equal(409);
    expect(busy.json.message).to.include('is running in').and.include(oneOff.split('/').at(-1)!);
    const survivor = await request(server, { path: oneOff, token });
    expect(survivor.json).to.include({ state: 'up', release: 'v1', exit_code: null });
    expect((await request(server, { method: 'DELETE', path: oneOff, token })).status).to.equal(204);

    const gone = await request(server, { method: 'DELETE', path: `/api/v1/images/${app}:v1`, token });
    expect(gone.status, gone.body).to.equal(204);
    expect(ledger()[0]!.status).to.equal('pruned');
    expect((await request(server, { path: `/api/v1/images/${app}:v1`, token })).status).to.equal(404);
    list = await request(server, { path: `/api/v1/images?app=${app}`, token });
    expect(list.json.filter((i: any) => i.kind === 'archive').map((i: any) => i.id)).to.deep.equal([`${app}:v3`, `${app}:v2`]);
    expect((await server.get(app)).body.trim()).to.equal('third');
  });

  const build = (body: Buffer, tag: string, type = 'application/gzip') =>
    request(server, { method: 'POST', path: `/api/v1/images?app=${app}&tag=${tag}`, token, headers: { 'content-type': type }, body });

  async function builtImage(upload: Answer, tag: string): Promise<any> {
    expect(upload.status, upload.body).to.equal(202);
    expect(upload.headers.location).to.match(/^\/api\/v1\/queue\/\d+$/);
    const done = await waitForQueue(server, token, upload.headers.location!);
    expect(done.status, done.body).to.equal(303);
    expect(done.headers.location).to.match(/^\/api\/v1\/images\/sha256(:|%3A)[0-9a-f]{64}$/);
    const image = await request(server, { path: done.headers.location!, token });
    expect(image.status, image.body).to.equal(200);
    built.push(image.json.id);
    expect(image.json).to.include({ kind: 'docker', app });
    expect(image.json.tags).to.include(`slipway/${app}:${tag}`);
    const labels = JSON.parse(docker(['image', 'inspect', '--format', '{{json .Config.Labels}}', `slipway/${app}:${tag}`]).stdout);
    expect(labels).to.include({ 'slipway.app': app, 'slipway.role': 'image' });
    const log = await request(server, { path: `${upload.headers.location}/log`, token });
    return { image: image.json, log: log.body };
  }

  it('builds an uploaded .tar.gz with a Dockerfile into an image labelled for the app (the 003 seed)', async () => {
    const dir = contextDir(`${FROM}COPY hello.txt /hello.txt\nRUN echo built-from-tgz && cat /hello.txt\n`);
    const { image, log } = await builtImage(await build(tgz(dir), 'tgz'), 'tgz');
    expect(log).to.include('built-from-tgz');
    const run = docker(['run', '--rm', `slipway/${app}:tgz`, 'cat', '/hello.txt']);
    expect(run.stdout).to.equal('hello from the build context\n');
    const list = await request(server, { path: '/api/v1/images', token });
    expect(list.json.map((i: any) => i.id)).to.include(image.id);
  });

  it('builds an uploaded .zip the same way, then deletes the image', async () => {
    const body = zip({ Dockerfile: `${FROM}COPY sub/note.txt /note.txt\nRUN echo built-from-zip\n`, 'sub/note.txt': 'zipped\n' });
    const { image, log } = await builtImage(await build(body, 'zip', 'application/zip'), 'zip');
    expect(log).to.include('built-from-zip');
    expect(docker(['run', '--rm', `slipway/${app}:zip`, 'cat', '/note.txt']).stdout).to.equal('zipped\n');

    const tagged = await postJson(server, token, `${image.url}/tags`, { tag: 'zip-again' });
    expect(tagged.status, tagged.body).to.equal(201);
    expect(tagged.json.tags).to.include.members([`slipway/${app}:zip`, `slipway/${app}:zip-again`]);
    expect((await postJson(server, token, `${image.url}/tags`, { tag: '../x' })).status).to.equal(422);
    expect((await postJson(server, token, `/api/v1/images/${app}:v2/tags`, { tag: 'x' })).status).to.equal(409);
    expect((await postJson(server, bobToken, `${image.url}/tags`, { tag: 'mine' })).status).to.equal(404);

    expect((await request(server, { method: 'DELETE', path: image.url, token: bobToken })).status).to.equal(404);
    const del = await request(server, { method: 'DELETE', path: image.url, token });
    expect(del.status, del.body).to.equal(204);
    expect(docker(['image', 'inspect', `slipway/${app}:zip`]).code).to.not.equal(0);
    expect(docker(['image', 'inspect', `slipway/${app}:zip-again`]).code).to.not.equal(0);
    expect((await request(server, { path: image.url, token })).status).to.equal(404);
  });

  it('fails the job with the build error when a RUN fails; the job log has its output', async () => {
    const upload = await build(tgz(contextDir(`${FROM}RUN echo about-to-fail && exit 3\n`)), 'broken');
    expect(upload.status, upload.body).to.equal(202);
    const done = await waitForQueue(server, token, upload.headers.location!);
    expect(done.status).to.equal(200);
    expect(done.json.status).to.equal('failed');
    expect(done.json.error).to.include('the Dockerfile build failed').and.include('3');
    expect((await request(server, { path: `${upload.headers.location}/log`, token })).body).to.include('about-to-fail');
    const waited = server.cli(['jobs:wait', String(upload.json.id)]);
    expect(waited.code).to.not.equal(0);
    expect(waited.stdout).to.include('the Dockerfile build failed');
    expect(docker(['image', 'inspect', `slipway/${app}:broken`]).code).to.not.equal(0);
  });

  it('refuses unsafe or unusable build contexts before any job exists', async () => {
    const evil = `/tmp/slipway-evil-${crypto.randomBytes(4).toString('hex')}`;
    const dir = contextDir(`${FROM}RUN echo never\n`);
    fs.writeFileSync(path.join(dir, 'payload'), 'pwned\n');
    const before = jobs();
    const cases: Array<[Buffer, string, number, string]> = [
      [
        tgz(dir, ['-P', 'Dockerfile', 'payload', '--transform', `s,^payload$,../../../../../../../..${evil}/pwned,`]),
        'application/gzip',
        400,
        'outside',
      ],
      [zip({ Dockerfile: FROM, [`../../../../../../../..${evil}/pwned`]: 'x' }), 'application/zip', 400, 'outside'],
      [zip({ 'sub/Dockerfile': FROM }), 'application/zip', 422, 'no Dockerfile'],
      [Buffer.from('FROM scratch\n'), 'application/octet-stream', 415, 'neither a .zip nor a .tar.gz'],
      [tgz(dir), 'text/plain', 415, 'not text/plain'],
    ];
    for (const [body, type, status, message] of cases) {
      const r = await build(body, 'refused', type);
      expect(r.status, r.body).to.equal(status);
      expect(r.json.message).to.include(message);
      expect(r.json.hint).to.be.a('string');
    }
    expect((await build(tgz(dir), 'bad:tag')).status).to.equal(422);
    expect(jobs()).to.equal(before);
    expect(fs.existsSync(evil)).to.equal(false);
    expect(docker(['image', 'inspect', `slipway/${app}:refused`]).code).to.not.equal(0);
    expect(fs.readdirSync(path.join(server.home, 'apps', app, 'uploads'))).to.deep.equal([]);
  });

  it('describes this host; adding one needs an engine, and this one cannot be removed', async () => {
    const list = await request(server, { path: '/api/v1/hosts', token });
    expect(list.status, list.body).to.equal(200);
    expect(list.json).to.have.length(1);
    const host = list.json[0];
    expect(host).to.include({ id: 'local', name: os.hostname(), driver: 'process', cpus: os.cpus().length, url: '/api/v1/hosts/local' });
    expect(host.drivers).to.deep.equal(['process', 'docker']);
    expect(host.docker.reachable).to.equal(true);
    expect(host.docker.version).to.be.a('string');
    expect(host.memory.total).to.equal(os.totalmem());
    expect(host.instances).to.be.at.least(1);
    expect((await request(server, { path: '/api/v1/hosts/local', token })).json.id).to.equal('local');
    expect((await request(server, { path: '/api/v1/hosts/elsewhere', token })).status).to.equal(404);
    // Swarm hosts (test/hosts/) are joined by their engine's address: without one, the request is refused.
    const add = await postJson(server, token, '/api/v1/hosts', { name: 'vps-1' });
    expect(add.status).to.equal(400);
    expect(add.body).to.include('engine');
    const removeLocal = await request(server, { method: 'DELETE', path: '/api/v1/hosts/local', token });
    expect(removeLocal.status).to.equal(405);
    expect(removeLocal.headers.allow).to.equal('GET');
    expect(removeLocal.json).to.include({ error: 'host_is_manager' });
  });
});

describe('api: images and hosts without a Docker engine', function () {
  this.timeout(300_000);
  const env = useServer({ env: { DOCKER_HOST: 'unix:///nonexistent/docker.sock' } });

  it('lists archives only, says the engine is unreachable, and answers 503 to a build', async () => {
    const server = env.server;
    const token = server.cli(['tokens:create']).stdout.trim();
    expect(server.cli(['apps:create', 'noengine']).code).to.equal(0);
    expect((await push(appRepo('procfile-hello'), server.httpRemote('noengine', token))).code).to.equal(0);
    const list = await request(server, { path: '/api/v1/images', token });
    expect(list.status, list.body).to.equal(200);
    expect(list.json.map((i: any) => i.id)).to.deep.equal(['noengine:v1']);
    const host = (await request(server, { path: '/api/v1/hosts/local', token })).json;
    expect(host.docker.reachable).to.equal(false);
    expect(host.drivers).to.deep.equal(['process']);
    expect(host.docker.error).to.include('/nonexistent/docker.sock');
    const r = await request(server, {
      method: 'POST',
      path: '/api/v1/images?app=noengine',
      token,
      headers: { 'content-type': 'application/gzip' },
      body: tgz(contextDir(FROM)),
    });
    expect(r.status, r.body).to.equal(503);
    expect(r.json.error).to.equal('engine_unreachable');
    expect(r.json.message).to.include('cannot reach the Docker engine');
    // A client that waits for `100 Continue` is refused before it sends the body.
    const file = path.join(tmpdir('big'), 'ctx.tgz');
    fs.writeFileSync(file, tgz(contextDir(FROM)));
    const curl = spawnSync(
      'curl',
      [
        '-sv',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        '-H',
        'Expect: 100-continue',
        '-H',
        'Content-Type: application/gzip',
        '-H',
        `Authorization: Bearer ${token}`,
        '--data-binary',
        `@${file}`,
        `http://127.0.0.1:${server.ports.http}/api/v1/images?app=noengine`,
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    expect(curl.stdout).to.equal('503');
    expect(curl.stderr).to.include('Expect: 100-continue');
    expect(curl.stderr).to.not.match(/< HTTP\/1\.1 100/);
  });
});

describe('api: one-off containers under the docker driver', function () {
  this.timeout(300_000);
  requires('docker', 'stack');
  const env = useServer({ env: { SLIPWAY_DRIVER: 'docker' } });
  const app = `ctrd-${crypto.randomBytes(3).toString('hex')}`;
  const oneOffs = () =>
    docker(['ps', '-aq', '--filter', `label=slipway.app=${app}`, '--filter', 'label=slipway.role=one-off'])
      .stdout.split('\n')
      .filter(Boolean);

  after(() => {
    // A suite skipped for a missing engine started nothing.
    if (!env.server) return;
    // Only this suite's containers, found by its own app label.
    for (const id of docker(['ps', '-aq', '--filter', `label=slipway.app=${app}`])
      .stdout.split('\n')
      .filter(Boolean))
      docker(['rm', '-f', id]);
    for (const v of docker(['volume', 'ls', '-q', '--filter', `label=slipway.app=${app}`])
      .stdout.split('\n')
      .filter(Boolean))
      docker(['volume', 'rm', '-f', v]);
  });

  it('runs the one-off in its own container of the release, and removes it on DELETE', async () => {
    const server = env.server;
    const token = server.cli(['tokens:create']).stdout.trim();
    expect(server.cli(['apps:create', app]).code).to.equal(0);
    const pushed = await push(appRepo('procfile-hello'), server.httpRemote(app, token));
    expect(pushed.code, pushed.stderr).to.equal(0);

    const started = await postJson(server, token, '/api/v1/containers', {
      app,
      command: ['sh', '-c', 'echo inside-a-container; exec sleep 300'],
    });
    expect(started.status, started.body).to.equal(202);
    const done = await waitForQueue(server, token, started.headers.location!);
    expect(done.status, done.body).to.equal(303);
    const c = await request(server, { path: done.headers.location!, token });
    expect(c.json).to.include({ app, kind: 'one-off', driver: 'docker', state: 'up', release: 'v1' });
    expect(oneOffs()).to.have.length(1);
    await until(
      'the one-off output in the app log',
      () => fs.readFileSync(path.join(server.home, 'apps', app, 'logs', 'app.log'), 'utf8').includes('run.1: inside-a-container'),
      30_000,
    );

    expect((await request(server, { method: 'DELETE', path: done.headers.location!, token })).status).to.equal(204);
    expect(oneOffs()).to.deep.equal([]);
    expect((await request(server, { path: done.headers.location!, token })).status).to.equal(404);
  });
});
