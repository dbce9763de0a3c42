import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { addBuildpack, appRepo, commitAll, eventually, push, setMessage, TestServer, useServer, type Result } from './harness.js';
import { query } from './db.js';
import { alive } from '../support/proc.js';
import { underLoad as loadOnRouter } from '../support/load.js';

const underLoad = (server: TestServer, app: string, work: () => Promise<void>) =>
  loadOnRouter(server.ports.router, `${app}.localhost`, work);

describe('e2e: running apps like production', function () {
  this.timeout(300_000);
  const env = useServer();
  let server: TestServer;
  let sshCommand: string;
  beforeEach(() => ((server = env.server), (sshCommand = env.key.sshCommand)));

  const deploy = async (repo: string, app: string): Promise<Result> => {
    const r = await push(repo, server.sshRemote(app), { sshCommand, args: ['--force'] });
    return r;
  };
  const body = async (app: string, p = '/') => (await server.get(app, p)).body.trim();

  it('config:set makes a config release the app sees, without a failed request', async () => {
    expect(server.cli(['apps:create', 'conf']).code).to.equal(0);
    const repo = appRepo('env-app');
    expect((await deploy(repo, 'conf')).code).to.equal(0);
    expect(await body('conf', '/env/GREETING')).to.equal('(unset)');
    const load = await underLoad(server, 'conf', async () => {
      const r = await server.cliAsync(['config:set', 'conf', 'GREETING=hello world', 'OTHER=1']);
      expect(r.code, r.stderr + r.stdout).to.equal(0);
    });
    expect(load.during, 'requests while the config release went live').to.be.greaterThan(20);
    expect(load.failures).to.equal(0);
    expect(await body('conf', '/env/GREETING')).to.equal('hello world');
    expect(server.cli(['config:get', 'conf', 'GREETING']).stdout.trim()).to.equal('hello world');
    expect(server.cli(['releases', 'conf']).stdout).to.match(/v2\*\s+config\s+succeeded/);
    const bad = server.cli(['config:set', 'conf', '1BAD=x']);
    expect(bad.code).to.not.equal(0);
    expect(bad.stderr).to.include('not a valid config var name');
    const unset = server.cli(['config:unset', 'conf', 'OTHER']);
    expect(unset.code, unset.stderr).to.equal(0);
    expect(await body('conf', '/env/OTHER')).to.equal('(unset)');
  });

  it('rollback restores the old config as well as the old code', async () => {
    const repo = appRepo('env-app');
    expect(server.cli(['apps:create', 'rollconf']).code).to.equal(0);
    expect(server.cli(['config:set', 'rollconf', 'MODE=one']).code).to.equal(0); // no release yet: stored for the first deploy
    setMessage(repo, 'code one');
    expect((await deploy(repo, 'rollconf')).code).to.equal(0); // v1: code one, MODE=one
    setMessage(repo, 'code two');
    expect((await deploy(repo, 'rollconf')).code).to.equal(0); // v2
    expect(server.cli(['config:set', 'rollconf', 'MODE=two']).code).to.equal(0); // v3
    expect(await body('rollconf', '/env/MODE')).to.equal('two');
    const r = server.cli(['rollback', 'rollconf', 'v1']);
    expect(r.code, r.stderr).to.equal(0);
    expect(await body('rollconf')).to.equal('code one');
    expect(await body('rollconf', '/env/MODE')).to.equal('one');
    expect(server.cli(['config:get', 'rollconf', 'MODE']).stdout.trim()).to.equal('one');
  });

  it('ps:scale web=3 runs three instances that share the traffic; a killed one comes back and ps shows the restart', async () => {
    expect(server.cli(['apps:create', 'scaly']).code).to.equal(0);
    expect((await deploy(appRepo('env-app'), 'scaly')).code).to.equal(0);
    const r = server.cli(['ps:scale', 'scaly', 'web=3']);
    expect(r.code, r.stderr).to.equal(0);
    const seen = new Set<string>();
    for (let i = 0; i < 30; i++) seen.add(await body('scaly', '/dyno'));
    expect([...seen].sort()).to.deep.equal(['web.1', 'web.2', 'web.3']);
    const ps = server.cli(['ps', 'scaly']).stdout;
    const web2 = ps.split('\n').find((l) => l.startsWith('web.2'))!;
    const pid = Number(web2.trim().split(/\s+/)[4]);
    expect(pid).to.be.greaterThan(1);
    process.kill(pid, 'SIGKILL');
    await eventually(
      () => /^web\.2\s+up\s+\S+\s+\d+\s+\d+\s+1\s/m.test(server.cli(['ps', 'scaly']).stdout),
      'web.2 to come back with 1 restart',
    );
    // Scaling down stops only the surplus; the survivors keep their pids.
    const before = server
      .cli(['ps', 'scaly'])
      .stdout.split('\n')
      .find((l) => l.startsWith('web.1'))!
      .trim()
      .split(/\s+/)[4];
    expect(server.cli(['ps:scale', 'scaly', 'web=1']).code).to.equal(0);
    const after = server.cli(['ps', 'scaly']).stdout;
    expect(after).to.not.match(/^web\.[23]/m);
    expect(
      after
        .split('\n')
        .find((l) => l.startsWith('web.1'))!
        .trim()
        .split(/\s+/)[4],
    ).to.equal(before);
    expect(server.cli(['ps:scale', 'scaly', 'nope=1']).stderr).to.include('no process type "nope"');
  });

  it('ps:restart replaces instances without a failed request; ps:stop and ps:start', async () => {
    expect(server.cli(['apps:create', 'resty']).code).to.equal(0);
    expect((await deploy(appRepo('env-app'), 'resty')).code).to.equal(0);
    const pidOf = () =>
      server
        .cli(['ps', 'resty'])
        .stdout.split('\n')
        .find((l) => l.startsWith('web.1'))
        ?.trim()
        .split(/\s+/)[4];
    const before = pidOf();
    const load = await underLoad(server, 'resty', async () => {
      const r = await server.cliAsync(['ps:restart', 'resty']);
      expect(r.code, r.stderr).to.equal(0);
    });
    expect(load.during, 'requests during the restart').to.be.greaterThan(20);
    expect(load.failures).to.equal(0);
    expect(pidOf()).to.not.equal(before);
    expect(server.cli(['ps:stop', 'resty']).code).to.equal(0);
    expect((await server.get('resty')).status).to.equal(502);
    expect(server.cli(['ps:start', 'resty']).code).to.equal(0);
    expect(await body('resty')).to.equal('env app v1');
  });

  it('a failing release command stops the deploy before the switch; the old body is still served', async () => {
    expect(server.cli(['apps:create', 'relphase']).code).to.equal(0);
    const repo = appRepo('env-app');
    fs.writeFileSync(path.join(repo, 'Procfile'), 'web: node server.js\nrelease: echo migrating \"$SLIPWAY_RELEASE\"\n');
    commitAll(repo, 'release phase');
    const ok = await deploy(repo, 'relphase');
    expect(ok.stderr).to.include('migrating v1');
    fs.writeFileSync(path.join(repo, 'Procfile'), 'web: node server.js\nrelease: echo "migration 42 failed"; exit 4\n');
    setMessage(repo, 'never served');
    const r = await deploy(repo, 'relphase');
    expect(r.stderr).to.include('migration 42 failed');
    expect(r.stderr).to.match(/failed at activate: the release command exited with status 4.*v1 is still serving/);
    expect(await body('relphase')).to.equal('env app v1');
  });

  it('app.json health checks gate the switch', async () => {
    expect(server.cli(['apps:create', 'checked']).code).to.equal(0);
    const repo = appRepo('env-app');
    expect((await deploy(repo, 'checked')).code).to.equal(0);
    fs.writeFileSync(
      path.join(repo, 'app.json'),
      JSON.stringify({
        healthchecks: { web: [{ type: 'startup', name: 'ready', path: '/health', content: 'ready', attempts: 2, wait: 0.2, timeout: 2 }] },
      }),
    );
    setMessage(repo, 'fails its check');
    const r = await deploy(repo, 'checked');
    expect(r.stderr).to.match(/health check "ready" failed for web\.1: GET \/health answered 200 without "ready" after 2 attempts/);
    expect(await body('checked')).to.equal('env app v1');
    fs.writeFileSync(
      path.join(repo, 'app.json'),
      JSON.stringify({ healthchecks: { web: [{ path: '/health', content: 'healthy', attempts: 3 }] } }),
    );
    setMessage(repo, 'passes its check');
    expect((await deploy(repo, 'checked')).code).to.equal(0);
    expect(await body('checked')).to.equal('passes its check');
  });

  it('keeps data in SLIPWAY_DATA_DIR across deploys and rollbacks', async () => {
    expect(server.cli(['apps:create', 'keeper']).code).to.equal(0);
    const repo = appRepo('env-app');
    setMessage(repo, 'one');
    expect((await deploy(repo, 'keeper')).code).to.equal(0);
    await server.get('keeper', '/data').then(() => undefined);
    const { httpGet } = await import('./harness.js');
    await httpGet({ port: server.ports.router, host: 'keeper.localhost', path: '/data', method: 'POST' });
    setMessage(repo, 'two');
    expect((await deploy(repo, 'keeper')).code).to.equal(0);
    await httpGet({ port: server.ports.router, host: 'keeper.localhost', path: '/data', method: 'POST' });
    expect(server.cli(['rollback', 'keeper']).code).to.equal(0);
    expect(await body('keeper', '/data')).to.equal('one\ntwo');
    expect(fs.readFileSync(path.join(server.home, 'apps', 'keeper', 'data', 'visits.txt'), 'utf8')).to.equal('one\ntwo\n');
  });

  it('zero downtime under load: 10 deploys in a row, one failing its health check, with no failed request', async () => {
    expect(server.cli(['apps:create', 'busy']).code).to.equal(0);
    const repo = appRepo('env-app');
    expect((await deploy(repo, 'busy')).code).to.equal(0);
    const outcomes: number[] = [];
    const load = await underLoad(server, 'busy', async () => {
      for (let i = 1; i <= 10; i++) {
        if (i === 5)
          fs.writeFileSync(
            path.join(repo, 'app.json'),
            JSON.stringify({ healthchecks: { web: [{ path: '/nope', attempts: 1, timeout: 1 }] } }),
          );
        if (i === 6) fs.rmSync(path.join(repo, 'app.json'));
        setMessage(repo, `deploy ${i}`);
        outcomes.push((await deploy(repo, 'busy')).stderr.includes('is live at') ? 1 : 0);
      }
    });
    expect(outcomes).to.deep.equal([1, 1, 1, 1, 0, 1, 1, 1, 1, 1]);
    expect(load.during).to.be.greaterThan(100);
    expect(load.failures).to.equal(0);
    expect(await body('busy')).to.equal('deploy 10');
  });

  it('after kill -9 of the daemon during a build: the previous release serves, the job is failed as interrupted, the next push works', async () => {
    expect(server.cli(['apps:create', 'crashme']).code).to.equal(0);
    const repo = appRepo('env-app');
    expect((await deploy(repo, 'crashme')).code).to.equal(0);
    addBuildpack(repo, 'slow-bp', 'echo "-----> building slowly"\nsleep 30');
    setMessage(repo, 'never finished');
    const oldPid = Number(
      server
        .cli(['ps', 'crashme'])
        .stdout.split('\n')
        .find((l) => l.startsWith('web.1'))!
        .trim()
        .split(/\s+/)[4],
    );
    expect(alive(oldPid)).to.equal(true);
    const pushing = deploy(repo, 'crashme');
    await eventually(
      () => query(server.home, "SELECT current_stage FROM jobs WHERE status = 'running'").some((j) => j.current_stage === 'build'),
      'the build stage',
    );
    await server.kill9();
    await pushing;
    await server.boot();
    // The daemon's orphans from before the crash were found and ended, not left holding their ports.
    expect(alive(oldPid), 'the pre-crash web process').to.equal(false);
    expect(await body('crashme')).to.equal('env app v1');
    const job = query(
      server.home,
      "SELECT status, error FROM jobs j JOIN apps a ON a.id = j.app_id WHERE a.name = 'crashme' ORDER BY j.id DESC LIMIT 1",
    )[0];
    expect(job.status).to.equal('failed');
    expect(job.error).to.match(/interrupted/);
    fs.rmSync(path.join(repo, '.buildpacks'));
    setMessage(repo, 'after the crash');
    expect((await deploy(repo, 'crashme')).code).to.equal(0);
    expect(await body('crashme')).to.equal('after the crash');
    expect(query(server.home, 'PRAGMA integrity_check')[0].integrity_check).to.equal('ok');
  });
});
