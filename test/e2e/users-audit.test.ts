import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { BIN, eventually, httpGet, ssh, sshArgs, sshKey, useServer, type TestServer } from './harness.js';
import { query } from './db.js';

interface AuditRow {
  user_name: string | null;
  action: string;
  app_name: string | null;
  detail: string;
  source: string;
  outcome: string;
}

describe('e2e: users, tokens, password login and the audit log', function () {
  this.timeout(120_000);
  const env = useServer();
  let server: TestServer;
  const cli = (args: string[], input?: string) => server.cli(args, input);
  const ok = (args: string[], input?: string) => {
    const r = cli(args, input);
    expect(r.code, `slipway ${args.join(' ')}: ${r.stderr}`).to.equal(0);
    return r.stdout;
  };
  const api = (method: string, path: string, opts: { token?: string; json?: unknown } = {}) =>
    httpGet({
      port: server.ports.http,
      host: '127.0.0.1',
      method,
      path,
      body: opts.json === undefined ? undefined : JSON.stringify(opts.json),
      // spawnSync blocks this process: a kept-alive socket may have been closed meanwhile.
      headers: {
        connection: 'close',
        ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
        ...(opts.json === undefined ? {} : { 'content-type': 'application/json' }),
      },
    });
  const audit = (where = '1 = 1') =>
    query<AuditRow>(server.home, `SELECT user_name, action, app_name, detail, source, outcome FROM audit_log WHERE ${where} ORDER BY id`);

  before(() => {
    server = env.server;
  });

  it('names tokens, refuses a second live token of the same name, lists last use and revokes by name', async () => {
    ok(['users:add', 'tia']);
    const token = ok(['tokens:create', '--user', 'tia', '--name', 'laptop']).trim();
    const again = cli(['tokens:create', '--user', 'tia', '--name', 'laptop']);
    expect(again.code).to.equal(1);
    expect(again.stderr).to.contain('already has a live token named "laptop"').and.contain('tokens:revoke laptop');
    expect(ok(['tokens', '--user', 'tia'])).to.match(/laptop\s+\S+ ago\s+never\s+live/);
    expect((await api('GET', '/api/v1/apps', { token })).status).to.equal(200);
    expect(ok(['tokens', '--user', 'tia'])).to.match(/laptop\s+\S+ ago\s+\S+ ago\s+live/);
    ok(['tokens:revoke', '--user', 'tia', 'laptop']);
    expect(ok(['tokens', '--user', 'tia'])).to.match(/laptop .*revoked/);
    expect((await api('GET', '/api/v1/apps', { token })).status).to.equal(401);
    // The name is free again once its token is revoked.
    expect(ok(['tokens:create', '--user', 'tia', '--name', 'laptop']).trim()).to.match(/^slp_/);
    const failures = audit("action = 'login' AND outcome = 'denied'");
    expect(failures.at(-1)).to.include({ user_name: null, source: 'http 127.0.0.1' });
    expect(JSON.parse(failures.at(-1)!.detail).reason).to.contain('revoked');
  });

  it('logs in with a password set from stdin; an unknown user and a wrong password answer alike', async () => {
    ok(['users:add', 'pat']);
    const empty = cli(['users:passwd', 'pat'], '');
    expect(empty.code).to.equal(1);
    expect(empty.stderr).to.contain('no password on stdin');
    expect(cli(['users:passwd', 'pat'], 'short\n').stderr).to.contain('shorter than 8 characters');
    ok(['users:passwd', 'pat'], 'correct horse battery\n');
    expect(query<{ h: string }>(server.home, "SELECT password_hash AS h FROM users WHERE name = 'pat'")[0]!.h).to.match(
      /^scrypt\$32768\$8\$1\$/,
    );

    const login = await api('POST', '/api/v1/login', { json: { user: 'pat', password: 'correct horse battery', token_name: 'ci' } });
    expect(login.status, login.body).to.equal(201);
    const body = JSON.parse(login.body);
    expect(body).to.deep.include({ token_name: 'ci', user: { name: 'pat', role: 'member' } });
    expect((await api('GET', '/api/v1/apps', { token: body.token })).status).to.equal(200);
    expect(ok(['tokens', '--user', 'pat'])).to.match(/\bci\b/);

    const wrong = await api('POST', '/api/v1/login', { json: { user: 'pat', password: 'wrong horse battery' } });
    const unknown = await api('POST', '/api/v1/login', { json: { user: 'nobody', password: 'wrong horse battery' } });
    expect(wrong.status).to.equal(401);
    expect(wrong.body).to.equal(unknown.body);
    expect(JSON.parse(wrong.body).message).to.equal('wrong user name or password');
    const rows = audit("action = 'login'").slice(-3);
    expect(rows.map((r) => [r.user_name, r.outcome, JSON.parse(r.detail).reason])).to.deep.equal([
      ['pat', 'ok', undefined],
      [null, 'denied', 'wrong password'],
      [null, 'denied', 'unknown user'],
    ]);
    expect(rows.every((r) => r.source === 'http 127.0.0.1')).to.equal(true);
  });

  it('prompts for the password without echoing it when users:passwd runs at a terminal', async () => {
    ok(['users:add', 'typist']);
    // `script` gives the CLI a real pseudo-terminal; the password is typed once the prompt shows.
    const child = spawn('script', ['-qec', `${BIN} users:passwd typist`, '/dev/null'], {
      env: server.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    await eventually(() => output.includes('Password (not shown): '), 'the password prompt');
    const before = output.length;
    child.stdin.write('typed pass phrase\r');
    const code = await new Promise((resolve) => child.once('close', resolve));
    expect(code, output).to.equal(0);
    expect(output.slice(before)).to.not.contain('typed');
    expect(output.slice(before)).to.contain('Set the password of typist');
    expect((await api('POST', '/api/v1/login', { json: { user: 'typist', password: 'typed pass phrase' } })).status).to.equal(201);
  });

  it('sets your own password over SSH from stdin, and refuses a terminal that would echo it', async () => {
    ok(['users:add', 'remo']);
    const key = sshKey();
    ok(['keys:add', '--user', 'remo', key.pub]);
    const piped = ssh(key.key, server.ports.ssh, ['users:passwd'], 'remote pass phrase\n');
    expect(piped.code, piped.stderr).to.equal(0);
    expect((await api('POST', '/api/v1/login', { json: { user: 'remo', password: 'remote pass phrase' } })).status).to.equal(201);
    const tty = spawnSync('ssh', ['-tt', ...sshArgs(key.key, server.ports.ssh), 'users:passwd'], {
      input: 'x\n',
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(tty.status).to.equal(1);
    expect(tty.stdout + tty.stderr).to.contain('would be echoed');
    // Any command reading stdin over SSH still answers once stdin ends (keys:add read it the same way).
    const second = sshKey();
    const added = ssh(key.key, server.ports.ssh, ['keys:add'], fs.readFileSync(second.pub, 'utf8'));
    expect(added.code, added.stderr).to.equal(0);
    expect(added.stdout).to.contain('Added key SHA256:');
    // Someone else's password is an admin's business.
    const other = ssh(key.key, server.ports.ssh, ['users:passwd', 'pat'], 'hijacked pass phrase\n');
    expect(other.code).to.equal(1);
    expect(other.stderr).to.contain("only an admin may manage other users' keys and tokens");
  });

  it('slows down password guessing: after five failures even the right password waits', async () => {
    ok(['users:add', 'guessme']);
    ok(['users:passwd', 'guessme'], 'the real passphrase');
    for (let i = 0; i < 5; i++)
      expect((await api('POST', '/api/v1/login', { json: { user: 'guessme', password: `guess ${i} nope` } })).status).to.equal(401);
    const locked = await api('POST', '/api/v1/login', { json: { user: 'guessme', password: 'the real passphrase' } });
    expect(locked.status).to.equal(429);
    expect(Number(locked.headers['retry-after'])).to.be.greaterThan(0);
    expect(JSON.parse(locked.body).error).to.equal('too_many_attempts');
  });

  it('removes users, but never the last admin nor one who still owns apps', () => {
    const last = cli(['users:remove', 'admin']);
    expect(last.code).to.equal(1);
    expect(last.stderr).to.contain('admin is the last admin');

    ok(['users:add', 'leaver']);
    const key = sshKey();
    ok(['keys:add', '--user', 'leaver', key.pub]);
    const token = ok(['tokens:create', '--user', 'leaver']).trim();
    expect(ssh(key.key, server.ports.ssh, ['apps:create', 'leavers-app']).code).to.equal(0);
    const owns = cli(['users:remove', 'leaver']);
    expect(owns.code).to.equal(1);
    expect(owns.stderr).to.contain('leaver still owns leavers-app').and.contain('apps:transfer leavers-app NEW_OWNER');

    expect(ok(['apps:transfer', 'leavers-app', 'admin'])).to.contain('admin now owns leavers-app; leaver stays a collaborator');
    expect(ok(['access', 'leavers-app'])).to.match(/admin\s+owner[\s\S]*leaver\s+collaborator/);
    expect(ok(['users:remove', 'leaver'])).to.contain('Removed member leaver');
    expect(ok(['users:list'])).to.not.match(/^leaver\b/m);
    expect(ok(['access', 'leavers-app'])).to.not.contain('leaver ');
    expect(ssh(key.key, server.ports.ssh, ['apps:list']).code).to.equal(255);
    return api('GET', '/api/v1/apps', { token }).then((r) => expect(r.status).to.equal(401));
  });

  it('audits who changed what from where, keeping config keys but never their values', async () => {
    ok(['apps:create', 'audited']);
    ok(['users:add', 'carol']);
    const key = sshKey();
    ok(['keys:add', '--user', 'carol', key.pub]);
    ok(['access:add', 'audited', 'carol']);
    const set = ssh(key.key, server.ports.ssh, ['config:set', 'audited', 'API_SECRET=hunter2-value', 'MODE=fast']);
    expect(set.code, set.stderr).to.equal(0);
    const stranger = sshKey();
    expect(ssh(stranger.key, server.ports.ssh, ['apps:list']).code).to.equal(255);

    const rows = audit("app_name = 'audited'");
    expect(rows.map((r) => [r.user_name, r.action, r.source, r.outcome])).to.deep.equal([
      ['admin', 'apps:create', 'cli', 'ok'],
      ['admin', 'access:add', 'cli', 'ok'],
      ['carol', 'config:set', 'ssh 127.0.0.1', 'ok'],
    ]);
    expect(JSON.parse(rows[2]!.detail)).to.deep.equal({ args: ['API_SECRET', 'MODE'] });
    expect(JSON.stringify(audit())).to.not.contain('hunter2');
    expect(audit("action = 'login' AND source = 'ssh 127.0.0.1'").at(-1)).to.include({ outcome: 'denied', user_name: null });

    // Refused attempts are recorded too, under the name that was tried.
    ok(['users:add', 'mallory']);
    const mkey = sshKey();
    ok(['keys:add', '--user', 'mallory', mkey.pub]);
    expect(ssh(mkey.key, server.ports.ssh, ['ps:scale', 'audited', 'web=9']).code).to.equal(1);
    expect(audit("app_name = 'audited'").at(-1)).to.include({ user_name: 'mallory', action: 'ps:scale', outcome: 'denied' });

    // The command and the API show each caller what they may see: carol her app, mallory nothing of it.
    const carol = ssh(key.key, server.ports.ssh, ['audit', 'audited']);
    expect(carol.stdout).to.match(/carol\s+config:set\s+audited\s+ssh 127\.0\.0\.1\s+ok\s+\{"args":\["API_SECRET","MODE"\]\}/);
    expect(ssh(mkey.key, server.ports.ssh, ['audit']).stdout).to.not.contain('audited');
    expect(ssh(mkey.key, server.ports.ssh, ['audit', 'audited']).stderr).to.contain(
      'app "audited" does not exist, or you have no access to it',
    );
    const carolToken = ok(['tokens:create', '--user', 'carol']).trim();
    const viaApi = await api('GET', '/api/v1/audit?app=audited&limit=2', { token: carolToken });
    expect(viaApi.status).to.equal(200);
    expect(JSON.parse(viaApi.body).map((e: { action: string; user: string }) => `${e.user} ${e.action}`)).to.deep.equal([
      'mallory ps:scale',
      'carol config:set',
    ]);

    // Mutating API calls are recorded with their answer; reads are not.
    const reads = audit().length;
    await api('GET', '/api/v1/apps/audited', { token: carolToken });
    expect(audit().length).to.equal(reads);
    const shared = await api('PUT', '/api/v1/apps/audited/collaborators/mallory', { token: carolToken });
    expect(shared.status).to.equal(403);
    expect(audit().at(-1)).to.include({
      user_name: 'carol',
      action: 'PUT /api/v1/apps/:app/collaborators/:user',
      app_name: 'audited',
      source: 'http 127.0.0.1',
      outcome: 'denied',
    });
  });
});
