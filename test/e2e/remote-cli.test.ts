import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, appRepo, eventually, push, sshKey, tmpdir, useServer, type Result, type TestServer } from './harness.js';

/**
 * The CLI on a laptop: its own HOME and XDG_CONFIG_HOME, and no SLIPWAY_HOME
 * of the server's, so nothing but the stored login can reach the server.
 */
describe('e2e: remote CLI (slipway login)', function () {
  this.timeout(300_000);
  const env = useServer();
  let server: TestServer;
  beforeEach(() => ({ server } = env));

  // A fresh laptop for each test (no login yet), so each can run alone.
  let laptop = '';
  let configFile = '';
  beforeEach(() => {
    laptop = tmpdir('laptop');
    configFile = path.join(laptop, 'xdg', 'slipway', 'config.json');
  });
  let url = '';
  let carolToken = '';

  /** The laptop's CLI; `local` also gives it the server's home, as on the server host itself. */
  function cli(args: string[], opts: { local?: boolean; input?: string; env?: Record<string, string> } = {}): Result {
    const base: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: laptop, XDG_CONFIG_HOME: path.join(laptop, 'xdg'), ...opts.env };
    const r = spawnSync(BIN, args, {
      env: opts.local ? { ...server.env, ...base } : { ...base, SLIPWAY_HOME: path.join(laptop, 'no-server-here') },
      input: opts.input ?? '',
      encoding: 'utf8',
      timeout: 120_000,
    });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }
  const ok = (args: string[], opts?: Parameters<typeof cli>[1]) => {
    const r = cli(args, opts);
    expect(r.code, `${args.join(' ')}: ${r.stderr}`).to.equal(0);
    return r.stdout;
  };

  const loginAsCarol = () => ok(['login', url, '--token', carolToken]);

  before(() => {
    url = `http://127.0.0.1:${env.server.ports.http}`;
    expect(env.server.cli(['users:add', 'carol']).code).to.equal(0);
    carolToken = env.server.cli(['tokens:create', '--user', 'carol']).stdout.trim();
    expect(env.server.cli(['apps:create', 'admins-app']).code).to.equal(0);
  });

  it('without a login the laptop has no server to talk to', () => {
    const r = cli(['apps:list']);
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.include('No Slipway server has been set up');
  });

  it('a wrong token fails login with one clear line and stores nothing', () => {
    const r = cli(['login', url, '--token', 'not-a-token']);
    expect(r.code).to.not.equal(0);
    expect(r.stderr.trim().split('\n')).to.have.length(1);
    expect(r.stderr).to.include('a valid API token is required');
    expect(fs.existsSync(configFile)).to.equal(false);
    const nobody = cli(['login', 'http://127.0.0.1:1', '--token', carolToken]);
    expect(nobody.code).to.not.equal(0);
    expect(nobody.stderr).to.include('cannot reach http://127.0.0.1:1');
    expect(fs.existsSync(configFile)).to.equal(false);
  });

  it('login stores the target 0600 in a 0700 dir, and whoami says who', () => {
    expect(ok(['login', `${url}/`, '--token', carolToken])).to.include(`Logged in to ${url} as carol (member)`);
    expect(fs.statSync(configFile).mode & 0o777).to.equal(0o600);
    expect(fs.statSync(path.dirname(configFile)).mode & 0o777).to.equal(0o700);
    expect(JSON.parse(fs.readFileSync(configFile, 'utf8'))).to.deep.equal({ url, token: carolToken, user: 'carol' });
    expect(ok(['whoami']).trim()).to.equal(`carol (member) on ${url} (from slipway login)`);
  });

  it('commands run remotely as that user: create, keys, push, config, releases, ps, logs, destroy', async () => {
    loginAsCarol();
    const created = ok(['apps:create', 'carols']);
    expect(created).to.include('Created carols');
    const apps = ok(['apps:list']);
    expect(apps).to.include('carols');
    expect(apps).to.not.include('admins-app');
    const hidden = cli(['apps:info', 'admins-app']);
    expect(hidden.code).to.equal(1);
    expect(hidden.stderr).to.include('app "admins-app" does not exist, or you have no access to it');

    // keys:add FILE reads the laptop's file and sends the key: carol can push with it.
    const key = sshKey();
    expect(ok(['keys:add', key.pub])).to.include('for carol');
    const pushed = await push(appRepo('env-app'), server.sshRemote('carols'), { sshCommand: key.sshCommand });
    expect(pushed.code, pushed.stderr).to.equal(0);

    const setOut = ok(['config:set', 'carols', 'GREETING=hi from afar']);
    expect(setOut).to.include('making a new release of carols').and.include('v2 of carols is live');
    expect((await server.get('carols', '/env/GREETING')).body.trim()).to.equal('hi from afar');
    // The same output as on the host.
    expect(ok(['config', 'carols'])).to.equal(server.cli(['config', 'carols']).stdout);
    expect(ok(['releases', 'carols'])).to.match(/^v2\*\s+config\s+succeeded\s+\S+\s+carol\s/m);
    expect(ok(['ps', 'carols'])).to.match(/web\.1\s+up\s+v2/);
    await eventually(() => cli(['logs', 'carols', '-n', '20']).stdout.includes('web.1:'), 'log lines of web.1');
    const bad = cli(['config:set', 'carols', '1BAD=x']);
    expect(bad.code).to.equal(1);
    expect(bad.stderr.trim()).to.equal(
      ' !     "1BAD" is not a valid config var name (names match ^[A-Za-z_][A-Za-z0-9_]*$, e.g. DATABASE_URL)'.trim(),
    );
    const enter = cli(['enter', 'carols']);
    expect(enter.code).to.equal(1);
    expect(enter.stderr).to.include('ssh -t slipway@HOST enter carols');

    const destroyed = cli(['apps:destroy', 'carols', '--confirm', 'carols']);
    expect(destroyed.code, destroyed.stderr).to.equal(0);
    expect(server.cli(['apps:list']).stdout).to.not.include('carols');
  });

  it('SLIPWAY_URL and SLIPWAY_TOKEN work without a login; --local and SLIPWAY_REMOTE=0 force the control socket', () => {
    loginAsCarol();
    const admin = server.cli(['tokens:create', '--name', 'env']).stdout.trim();
    expect(ok(['whoami'], { env: { SLIPWAY_URL: url, SLIPWAY_TOKEN: admin } })).to.include(
      `admin (admin) on ${url} (from SLIPWAY_URL and SLIPWAY_TOKEN)`,
    );
    expect(ok(['apps:list'], { local: true })).to.not.include('admins-app'); // the login (carol) wins over the host's socket…
    expect(ok(['--local', 'apps:list'], { local: true })).to.include('admins-app'); // …unless asked
    expect(ok(['apps:list'], { local: true, env: { SLIPWAY_REMOTE: '0' } })).to.include('admins-app');
  });

  it('after logout, commands go to the control socket again', () => {
    loginAsCarol();
    expect(ok(['logout'])).to.include(`Logged out of ${url}`);
    expect(fs.existsSync(configFile)).to.equal(false);
    expect(ok(['whoami'], { local: true })).to.include('local server');
    expect(ok(['apps:list'], { local: true })).to.include('admins-app');
    expect(cli(['apps:list']).stderr).to.include('No Slipway server has been set up');
  });
});
