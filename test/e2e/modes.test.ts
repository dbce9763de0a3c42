import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { MODES, STAGES } from '../../src/pipeline/modes.js';
import { appRepo, commitAll, git, push, setMessage, tmpdir, TestServer, useServer } from './harness.js';
import { query } from './db.js';

const lastJob = (home: string, app: string) =>
  query(
    home,
    'SELECT j.id, j.kind, j.mode, j.status FROM jobs j JOIN apps a ON a.id = j.app_id WHERE a.name = ? ORDER BY j.id DESC LIMIT 1',
    app,
  )[0];
const stagesOf = (home: string, jobId: number) =>
  query<{ stage: string; status: string }>(home, 'SELECT stage, status FROM job_stages WHERE job_id = ? ORDER BY seq', jobId);
const liveSha = (home: string, app: string) =>
  query(home, 'SELECT r.sha256 FROM releases r JOIN apps a ON a.id = r.app_id WHERE a.name = ? AND r.version = a.current_release', app)[0]
    ?.sha256;

describe('e2e: editable, cooking and final modes; promotion; atomic pushes', function () {
  this.timeout(300_000);
  // Its artifact server listens on loopback: the admin allows that range, as a real one would for an internal host.
  const env = useServer({ env: { SLIPWAY_EGRESS_ALLOW: '127.0.0.1/32' } });
  let server: TestServer;
  let sshCommand: string;
  beforeEach(() => ((server = env.server), (sshCommand = env.key.sshCommand)));
  const body = async (app: string) => (await server.get(app)).body.trim();
  const ok = (args: string[]) => {
    const r = server.cli(args);
    expect(r.code, `slipway ${args.join(' ')}: ${r.stderr}${r.stdout}`).to.equal(0);
    return r.stdout;
  };

  it('each mode runs exactly the stages of its row in the mode table', async () => {
    ok(['apps:create', 'm-dev', '--env', 'dev']);
    ok(['apps:create', 'm-stg', '--env', 'staging']);
    ok(['apps:create', 'm-prd', '--env', 'prod', '--upstream', 'm-stg']);
    const repo = appRepo('env-app');
    for (const app of ['m-dev', 'm-stg', 'm-prd']) {
      const r = await push(repo, server.sshRemote(app), { sshCommand });
      expect(r.code, r.stderr).to.equal(0);
      const job = lastJob(server.home, app);
      const mode = ({ 'm-dev': 'editable', 'm-stg': 'cooking', 'm-prd': 'final' } as const)[app as 'm-dev'];
      expect(job.mode).to.equal(mode);
      const expected = STAGES.filter((s) => s !== 'rollback').map((s) => ({
        stage: s,
        status: MODES[mode][s] === 'run' ? 'ok' : 'skipped',
      }));
      expect(stagesOf(server.home, job.id), app).to.deep.equal(expected);
    }
    // The final app deployed the very archive staging built from that commit.
    expect(liveSha(server.home, 'm-prd')).to.equal(liveSha(server.home, 'm-stg'));
  });

  it('editable mode updates the work tree in place on a push, and `deploy` re-runs it as edited', async () => {
    ok(['apps:create', 'edit', '--env', 'dev']);
    const repo = appRepo('env-app');
    setMessage(repo, 'edit one');
    expect((await push(repo, server.sshRemote('edit'), { sshCommand })).code).to.equal(0);
    const work = path.join(server.home, 'apps', 'edit', 'work');
    expect(fs.existsSync(path.join(work, '.git'))).to.equal(true);
    expect(fs.readlinkSync(path.join(server.home, 'apps', 'edit', 'releases', 'current'))).to.equal(work);
    fs.writeFileSync(path.join(work, 'scratch.txt'), 'left by a developer');
    setMessage(repo, 'edit two');
    expect((await push(repo, server.sshRemote('edit'), { sshCommand })).code).to.equal(0);
    expect(await body('edit')).to.equal('edit two');
    expect(fs.readFileSync(path.join(work, 'scratch.txt'), 'utf8')).to.equal('left by a developer');
    expect(fs.readdirSync(path.join(server.home, 'apps', 'edit', 'archives'))).to.deep.equal([]);
    // Edit the tree in place, redeploy without a push.
    fs.writeFileSync(path.join(work, 'message.txt'), 'edited in place\n');
    ok(['deploy', 'edit']);
    expect(await body('edit')).to.equal('edited in place');
  });

  it("editable mode follows the app's origin remote on `slipway deploy`", async () => {
    ok(['apps:create', 'edit-origin', '--env', 'dev']);
    const upstream = appRepo('env-app');
    setMessage(upstream, 'from origin');
    const origin = path.join(tmpdir('origin'), 'shop.git');
    expect(git(upstream, ['clone', '-q', '--bare', upstream, origin]).code).to.equal(0);
    ok(['apps:set', 'edit-origin', `origin=file://${origin}`]);
    ok(['deploy', 'edit-origin']);
    expect(await body('edit-origin')).to.equal('from origin');
    setMessage(upstream, 'origin moved on');
    expect(git(upstream, ['push', '-q', origin, 'main']).code).to.equal(0);
    ok(['deploy', 'edit-origin']);
    expect(await body('edit-origin')).to.equal('origin moved on');
    const bad = server.cli(['apps:set', 'edit-origin', 'origin=--upload-pack=touch /tmp/x']);
    expect(bad.code).to.not.equal(0);
    expect(bad.stderr).to.include('is not a URL');
  });

  it('a final app refuses a commit its staging app never built, naming the staging app', async () => {
    ok(['apps:create', 'f-stg']);
    ok(['apps:create', 'f-prd', '--env', 'prod', '--upstream', 'f-stg']);
    const repo = appRepo('env-app');
    expect((await push(repo, server.sshRemote('f-stg'), { sshCommand })).code).to.equal(0);
    setMessage(repo, 'never built on staging');
    const head = git(repo, ['rev-parse', '--short=7', 'HEAD']).stdout.trim();
    const r = await push(repo, server.sshRemote('f-prd'), { sshCommand });
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.include(`f-stg has no successful build of ${head}`);
    expect(r.stderr).to.include('Push');
    expect(query(server.home, "SELECT count(*) AS n FROM jobs j JOIN apps a ON a.id = j.app_id WHERE a.name = 'f-prd'")[0].n).to.equal(0);
    expect(git(repo, ['ls-remote', server.sshRemote('f-prd')], { GIT_SSH_COMMAND: sshCommand }).stdout).to.equal('');
  });

  it('the CI flow: atomic HTTP push to staging, promote to production, a failing build rejects the push', async () => {
    ok(['apps:create', 'ci-stg']);
    ok(['apps:set', 'ci-stg', 'push.atomic=true']);
    ok(['apps:create', 'ci-prd', '--env', 'prod']);
    const token = ok(['tokens:create', '--name', 'jenkins']).trim();
    const repo = appRepo('node-hello');
    setMessage(repo, 'ci build one');
    const first = await push(repo, server.httpRemote('ci-stg', token));
    expect(first.code, first.stderr).to.equal(0);
    expect(await body('ci-stg')).to.equal('ci build one');

    const promoted = server.cli(['promote', 'ci-stg', '--to', 'ci-prd']);
    expect(promoted.code, promoted.stderr).to.equal(0);
    expect(await body('ci-prd')).to.equal('ci build one');
    expect(liveSha(server.home, 'ci-prd')).to.equal(liveSha(server.home, 'ci-stg'));
    const promoteJob = lastJob(server.home, 'ci-prd');
    expect(stagesOf(server.home, promoteJob.id).find((s) => s.stage === 'build')?.status).to.equal('skipped');

    const good = git(repo, ['rev-parse', 'HEAD']).stdout.trim();
    const pkg = JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8'));
    pkg.scripts.build = 'echo "tests failed" >&2; exit 1';
    fs.writeFileSync(path.join(repo, 'package.json'), JSON.stringify(pkg));
    setMessage(repo, 'broken build');
    const broken = await push(repo, server.httpRemote('ci-stg', token));
    expect(broken.code).to.not.equal(0);
    expect(broken.stderr).to.include('tests failed');
    expect(broken.stderr).to.match(/pre-receive hook declined/);
    expect(await body('ci-stg')).to.equal('ci build one');
    // The branch did not move: the server still has the good commit.
    expect(git(repo, ['ls-remote', server.httpRemote('ci-stg', token), 'refs/heads/main']).stdout.split('\t')[0]).to.equal(good);

    // CI that builds its own artifact: one curl to staging, then promote it unchanged.
    const dir = tmpdir('ci-artifact');
    fs.copyFileSync(path.join(repo, 'server.js'), path.join(dir, 'server.js'));
    fs.writeFileSync(path.join(dir, 'message.txt'), 'ci artifact\n');
    fs.writeFileSync(path.join(dir, 'Procfile'), 'web: node server.js\n');
    const tgz = path.join(tmpdir('ci-tgz'), 'app.tgz');
    expect(spawnSync('tar', ['-czf', tgz, '-C', dir, '.']).status).to.equal(0);
    const sha = spawnSync('sha256sum', [tgz], { encoding: 'utf8' }).stdout.split(' ')[0];
    const upload = spawnSync(
      'curl',
      [
        '-fsS',
        '--data-binary',
        `@${tgz}`,
        '-H',
        'Content-Type: application/gzip',
        '-H',
        `Authorization: Bearer ${token}`,
        '-o',
        '/dev/null',
        '-w',
        '%header{location}',
        `http://127.0.0.1:${server.ports.http}/api/v1/apps/ci-stg/artifacts?sha256=${sha}`,
      ],
      { encoding: 'utf8' },
    );
    expect(upload.status, upload.stderr).to.equal(0);
    const jobUrl = upload.stdout.trim();
    expect(jobUrl).to.match(/^\/api\/v1\/jobs\/\d+$/);
    const waited = server.cli(['jobs:wait', jobUrl.split('/').pop()!]);
    expect(waited.code, waited.stdout + waited.stderr).to.equal(0);
    expect(await body('ci-stg')).to.equal('ci artifact');
    expect(liveSha(server.home, 'ci-stg')).to.equal(sha);
    expect(server.cli(['promote', 'ci-stg', '--to', 'ci-prd']).code).to.equal(0);
    expect(await body('ci-prd')).to.equal('ci artifact');
    expect(liveSha(server.home, 'ci-prd')).to.equal(sha);
  });

  it('release-sync deploys artifact_urls from file:// and http://127.0.0.1, and refuses a wrong #sha256 pin', async () => {
    ok(['apps:create', 'art-stg']);
    ok(['apps:create', 'art-prd', '--env', 'prod']);
    const repo = appRepo('env-app');
    setMessage(repo, 'from a url');
    expect((await push(repo, server.sshRemote('art-stg'), { sshCommand })).code).to.equal(0);
    const archive = query(
      server.home,
      "SELECT r.archive_path, r.sha256 FROM releases r JOIN apps a ON a.id = r.app_id WHERE a.name = 'art-stg'",
    )[0];
    const copy = path.join(tmpdir('artifact'), 'app.tar.gz');
    fs.copyFileSync(archive.archive_path, copy);

    ok(['apps:set', 'art-prd', `artifact_urls=file://${copy}#sha256=${archive.sha256}`]);
    ok(['deploy', 'art-prd']);
    expect(await body('art-prd')).to.equal('from a url');

    const files = http.createServer((req, res) => {
      if (req.url !== '/app.tar.gz') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/gzip' });
      fs.createReadStream(copy).pipe(res);
    });
    await new Promise<void>((r) => files.listen(0, '127.0.0.1', () => r()));
    const port = (files.address() as { port: number }).port;
    try {
      ok(['apps:set', 'art-prd', `artifact_urls=http://127.0.0.1:${port}/app.tar.gz`]);
      // Not server.cli: a blocking spawn would freeze the file server living in this process.
      const r = await server.cliAsync(['deploy', 'art-prd']);
      expect(r.code, r.stderr + r.stdout).to.equal(0);
      expect(liveSha(server.home, 'art-prd')).to.equal(archive.sha256);
      ok(['apps:set', 'art-prd', `artifact_urls=http://127.0.0.1:${port}/app.tar.gz#sha256=${'0'.repeat(64)}`]);
      const bad = await server.cliAsync(['deploy', 'art-prd']);
      expect(bad.code).to.not.equal(0);
      expect(bad.stdout + bad.stderr).to.include('sha256 mismatch');
      expect(await body('art-prd')).to.equal('from a url');
    } finally {
      files.close();
    }
  });

  it('.slipway/upgrade runs once per release archive: not again for a config release or a rollback to it', async () => {
    ok(['apps:create', 'upg']);
    const repo = appRepo('env-app');
    fs.mkdirSync(path.join(repo, '.slipway'));
    fs.writeFileSync(
      path.join(repo, '.slipway', 'upgrade'),
      '#!/bin/sh\necho "migrating $SLIPWAY_RELEASE" >> "$SLIPWAY_DATA_DIR/upgrades.log"\n',
      { mode: 0o755 },
    );
    commitAll(repo, 'upgrade step');
    expect((await push(repo, server.sshRemote('upg'), { sshCommand })).code).to.equal(0);
    ok(['config:set', 'upg', 'A=1']);
    setMessage(repo, 'second build');
    expect((await push(repo, server.sshRemote('upg'), { sshCommand })).code).to.equal(0);
    ok(['rollback', 'upg', 'v1']);
    const log = fs.readFileSync(path.join(server.home, 'apps', 'upg', 'data', 'upgrades.log'), 'utf8');
    expect(log).to.equal('migrating v1\nmigrating v3\n');
  });

  it('keeps archive-stage snapshots with what pre_archive dumped, rotated to backups.keep', async () => {
    ok(['apps:create', 'snap']);
    ok(['apps:set', 'snap', 'backups.keep=2']);
    const repo = appRepo('env-app');
    fs.mkdirSync(path.join(repo, '.slipway'));
    fs.writeFileSync(
      path.join(repo, '.slipway', 'pre_archive'),
      '#!/bin/sh\necho "dump of $SLIPWAY_APP" > "$SLIPWAY_SNAPSHOT_DIR/db.dump"\n',
      { mode: 0o755 },
    );
    commitAll(repo, 'pre_archive');
    for (let i = 0; i < 3; i++) {
      setMessage(repo, `snap ${i}`);
      expect((await push(repo, server.sshRemote('snap'), { sshCommand })).code).to.equal(0);
    }
    const dir = path.join(server.home, 'apps', 'snap', 'backups');
    const snaps = fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.tar.gz'))
      .sort();
    expect(snaps).to.have.length(2);
    const listing = spawnSync('tar', ['-tzf', path.join(dir, snaps[1]!)], { encoding: 'utf8' }).stdout;
    expect(listing).to.include('db.dump');
    expect(listing).to.include('release.json');
  });
});
