import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { addBuildpack, appRepo, commitAll, eventually, git, push, setMessage, ssh, sshKey, TestServer, useServer } from './harness.js';
import { query } from './db.js';
import { processesRunning } from '../support/proc.js';

const releases = (home: string, app: string) =>
  query<{ version: number; status: string; error: string | null }>(
    home,
    'SELECT version, status, error FROM releases r JOIN apps a ON a.id = r.app_id WHERE a.name = ? ORDER BY version',
    app,
  );

describe('e2e: failures roll back, queues, rollback, restart, bad input', function () {
  this.timeout(180_000);
  const env = useServer();
  let server: TestServer;
  let key: ReturnType<typeof sshKey>;
  beforeEach(() => ({ server, key } = env));

  async function deployV1(app: string, example = 'node-hello'): Promise<string> {
    expect(server.cli(['apps:create', app]).code).to.equal(0);
    const repo = appRepo(example);
    setMessage(repo, `${app} v1`);
    const r = await push(repo, server.sshRemote(app), { sshCommand: key.sshCommand });
    expect(r.code, r.stderr).to.equal(0);
    expect((await server.get(app)).body.trim()).to.equal(`${app} v1`);
    return repo;
  }

  /** A push whose build fails at once (a buildpack whose compile exits 1); the app stays as it was. */
  async function failBuild(app: string, repo: string): Promise<void> {
    addBuildpack(repo, 'failpack', 'echo "broken on purpose" >&2; exit 1');
    commitAll(repo, 'a build that fails');
    const r = await push(repo, server.sshRemote(app), { sshCommand: key.sshCommand });
    expect(r.stderr).to.match(/failed at build/);
  }

  it('a failing build says why, keeps v1 serving and records the release as failed', async () => {
    const repo = await deployV1('badbuild');
    const pkg = JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8'));
    pkg.scripts.build = 'echo "compiling assets"; echo "syntax error in app.ts" >&2; exit 3';
    fs.writeFileSync(path.join(repo, 'package.json'), JSON.stringify(pkg));
    setMessage(repo, 'badbuild v2');
    const r = await push(repo, server.sshRemote('badbuild'), { sshCommand: key.sshCommand });
    expect(r.stderr).to.include('syntax error in app.ts');
    expect(r.stderr).to.match(/Deploy of badbuild v2 failed at build: .*compile failed.*v1 is still serving/);
    expect((await server.get('badbuild')).body.trim()).to.equal('badbuild v1');
    expect(releases(server.home, 'badbuild').map((x) => x.status)).to.deep.equal(['succeeded', 'failed']);
    expect(releases(server.home, 'badbuild')[1]!.error).to.include('compile failed');
  });

  it('a web process that exits at once fails the deploy, and v1 keeps serving', async () => {
    const repo = await deployV1('crashy', 'procfile-hello');
    fs.writeFileSync(path.join(repo, 'Procfile'), 'web: echo "cannot open database" >&2; exit 1\n');
    commitAll(repo, 'crash at start');
    const r = await push(repo, server.sshRemote('crashy'), { sshCommand: key.sshCommand });
    expect(r.stderr).to.match(/failed at activate: web\.1 exited with status 1 before it was healthy/);
    expect(r.stderr).to.include('v1 is still serving');
    expect((await server.get('crashy')).body.trim()).to.equal('crashy v1');
    expect(releases(server.home, 'crashy').map((x) => x.status)).to.deep.equal(['succeeded', 'failed']);
  });

  it("a commit with a file name too long for the server's file system fails in one line, without the server's paths", async () => {
    const repo = await deployV1('longname', 'procfile-hello');
    // git keeps a 300-byte name (made with plumbing: no file system here can hold it either).
    const blob = git(repo, ['hash-object', '-w', '--stdin'], {}, 'x\n').stdout.trim();
    expect(git(repo, ['update-index', '--add', '--cacheinfo', `100644,${blob},${'n'.repeat(300)}`]).code).to.equal(0);
    expect(git(repo, ['commit', '-q', '-m', 'a very long name']).code).to.equal(0);
    const r = await push(repo, server.sshRemote('longname'), { sshCommand: key.sshCommand });
    expect(r.stderr).to.match(
      /could not check out [0-9a-f]{12}: a file name is longer than this server's file system allows \(n{60}…, 300 characters\)/,
    );
    expect(r.stderr).to.include('rename or remove that file');
    expect(r.stderr).to.not.include(server.home);
    expect((await server.get('longname')).body.trim()).to.equal('longname v1');
  });

  it('a commit with a link out of the app is refused in one line naming the link', async () => {
    const repo = await deployV1('uplink', 'procfile-hello');
    fs.symlinkSync('../../../etc', path.join(repo, 'up'));
    commitAll(repo, 'a link out of the app');
    const r = await push(repo, server.sshRemote('uplink'), { sshCommand: key.sshCommand });
    expect(r.stderr).to.match(/could not check out [0-9a-f]{12}: a link points outside the app \(up -> \.\.\/\.\.\/\.\.\/etc\)/);
    expect(r.stderr).to.not.match(/TAR_ENTRY_ERROR/);
    expect((await server.get('uplink')).body.trim()).to.equal('uplink v1');
  });

  it('a web process that never answers HTTP fails the health check, and v1 keeps serving', async () => {
    const repo = await deployV1('silent', 'procfile-hello');
    fs.writeFileSync(path.join(repo, 'Procfile'), 'web: sleep 600\n');
    commitAll(repo, 'never listens');
    const r = await push(repo, server.sshRemote('silent'), { sshCommand: key.sshCommand });
    expect(r.stderr, r.stderr).to.match(/failed at activate/);
    expect(r.stderr).to.include('v1 is still serving');
    expect((await server.get('silent')).body.trim()).to.equal('silent v1');
    expect(releases(server.home, 'silent').map((x) => x.status)).to.deep.equal(['succeeded', 'failed']);
  });

  it('a push while another deploy of the app runs is queued behind it, and the app ends on the second commit', async () => {
    expect(server.cli(['apps:create', 'racer']).code).to.equal(0);
    const repo = appRepo('procfile-hello');
    const clone = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-clone-'));
    fs.cpSync(repo, clone, { recursive: true });
    // The first build holds until the test lets it go: it is surely running when the second push arrives.
    const gate = ['sleep', `300.${crypto.randomInt(1e6)}`];
    addBuildpack(repo, 'gatepack', `${gate.join(' ')}; echo "-----> gate opened"`);
    setMessage(repo, 'racer first');
    const first = push(repo, server.sshRemote('racer'), { sshCommand: key.sshCommand });
    await eventually(() => processesRunning(gate).length === 1, 'the first build to start', 60_000);
    setMessage(clone, 'racer second');
    const second = push(clone, server.sshRemote('racer'), { sshCommand: key.sshCommand, args: ['--force'] });
    const jobsOf = () =>
      query(
        server.home,
        "SELECT j.id, j.status, j.started_at, j.finished_at FROM jobs j JOIN apps a ON a.id = j.app_id WHERE a.name = 'racer' ORDER BY j.id",
      );
    await eventually(() => jobsOf().length === 2, 'the second push to be queued', 60_000);
    for (const pid of processesRunning(gate)) process.kill(pid, 'SIGTERM');
    const [a, b] = await Promise.all([first, second]);
    expect(a.code, a.stderr).to.equal(0);
    expect(b.code, b.stderr).to.equal(0);
    expect(a.stderr).to.include('gate opened').and.not.include('Queued:');
    expect(b.stderr).to.include('Queued: 1 deploy of racer ahead of this one');
    expect((await server.get('racer')).body.trim()).to.equal('racer second');
    const jobs = jobsOf();
    expect(jobs.map((j) => j.status)).to.deep.equal(['succeeded', 'succeeded']);
    // One at a time: the later job started only after the earlier one finished.
    expect(jobs[1].started_at).to.be.at.least(jobs[0].finished_at);
  });

  it('rollback to v1 serves v1 again without a build stage, and prints how to undo it', async () => {
    const repo = await deployV1('rolly', 'procfile-hello');
    setMessage(repo, 'rolly v2');
    expect((await push(repo, server.sshRemote('rolly'), { sshCommand: key.sshCommand })).code).to.equal(0);
    expect((await server.get('rolly')).body.trim()).to.equal('rolly v2');
    const r = server.cli(['rollback', 'rolly', 'v1']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.include('To undo, run: slipway rollback rolly v2');
    expect((await server.get('rolly')).body.trim()).to.equal('rolly v1');
    const job = query(
      server.home,
      "SELECT j.id, j.kind FROM jobs j JOIN apps a ON a.id = j.app_id WHERE a.name = 'rolly' ORDER BY j.id DESC LIMIT 1",
    )[0];
    expect(job.kind).to.equal('rollback');
    const stages = query(server.home, 'SELECT stage, status FROM job_stages WHERE job_id = ? ORDER BY seq', job.id);
    expect(stages.find((s) => s.stage === 'build')?.status).to.equal('skipped');
    expect(stages.filter((s) => s.status === 'ok').map((s) => s.stage)).to.include.members(['release-sync', 'activate']);
    const sha = query(
      server.home,
      "SELECT version, sha256, kind FROM releases r JOIN apps a ON a.id = r.app_id WHERE a.name = 'rolly' ORDER BY version",
    );
    expect(sha[2].kind).to.equal('rollback');
    expect(sha[2].sha256).to.equal(sha[0].sha256);
    expect(server.cli(['releases', 'rolly']).stdout).to.match(/v3\*\s+rollback\s+succeeded/);
  });

  it('rollback to a failed release is refused with a clear message', async () => {
    expect(server.cli(['apps:create', 'neverbuilt']).code).to.equal(0);
    await failBuild('neverbuilt', appRepo('procfile-hello'));
    expect(releases(server.home, 'neverbuilt').map((x) => x.status)).to.deep.equal(['failed']);
    const r = server.cli(['rollback', 'neverbuilt', 'v1']);
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.include('v1 has no release archive to roll back to (it is failed)');
  });

  it('refuses bad app names and shell syntax over SSH; nothing is created', () => {
    const before = query(server.home, 'SELECT count(*) AS n FROM apps')[0].n;
    for (const name of ['../x', 'a;b', 'UPPER', 'a'.repeat(64), '-lead', '']) {
      const r = server.cli(['apps:create', name]);
      expect(r.code, name).to.not.equal(0);
      if (name && !name.startsWith('-')) expect(r.stderr, name).to.include('invalid app name');
    }
    const viaSsh = ssh(key.key, server.ports.ssh, ['apps:create', "'../x'"]);
    expect(viaSsh.code).to.not.equal(0);
    expect(viaSsh.stderr).to.include('invalid app name');
    const marker = path.join(os.tmpdir(), `pwned-${process.pid}`);
    const injected = ssh(key.key, server.ports.ssh, [`apps:create x; touch ${marker}`]);
    expect(injected.code).to.not.equal(0);
    expect(injected.stderr).to.match(/refusing shell syntax ';'/);
    expect(fs.existsSync(marker)).to.equal(false);
    const subshell = ssh(key.key, server.ports.ssh, ['apps:create', '$(touch', `${marker})`]);
    expect(subshell.code).to.not.equal(0);
    expect(fs.existsSync(marker)).to.equal(false);
    expect(query(server.home, 'SELECT count(*) AS n FROM apps')[0].n).to.equal(before);
    expect(fs.readdirSync(path.join(server.home, 'repos')).filter((f) => !/^[a-z][a-z0-9-]*\.git$/.test(f))).to.deep.equal([]);
  });

  it('runs commands over SSH as the key owner', () => {
    const created = ssh(key.key, server.ports.ssh, ['apps:create', 'sshmade']);
    expect(created.code, created.stderr).to.equal(0);
    const r = ssh(key.key, server.ports.ssh, ['apps:list']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.include('sshmade');
    const unknown = ssh(key.key, server.ports.ssh, ['no-such-command']);
    expect(unknown.code).to.not.equal(0);
  });

  it('a restarted server brings every app back, each on its current release', async () => {
    // One whose last push failed, one rolled back to v1: neither serves its newest release.
    const kept = await deployV1('keeper', 'procfile-hello');
    await failBuild('keeper', kept);
    const rolled = await deployV1('rolledback', 'procfile-hello');
    setMessage(rolled, 'rolledback v2');
    expect((await push(rolled, server.sshRemote('rolledback'), { sshCommand: key.sshCommand })).code).to.equal(0);
    expect(server.cli(['rollback', 'rolledback', 'v1']).code).to.equal(0);
    await server.stop();
    // Stopped means stopped: the apps' processes went with the daemon.
    await server.boot();
    expect((await server.get('keeper')).body.trim()).to.equal('keeper v1');
    expect((await server.get('rolledback')).body.trim()).to.equal('rolledback v1');
  });
});
