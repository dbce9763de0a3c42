import { expect } from 'chai';
import { Client } from 'ssh2';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sshFingerprint } from '../../src/git/ssh-auth.js';
import { startSshServer, type SshServer } from '../../src/git/ssh-server.js';
import { GATE_FILE, isolatedEnv, keygen, run, SLOW_HOOK, sshArgs, tempDir, TestGateway, workRepo, type KeyPair } from './helpers.js';

describe('git/ssh-server (real ssh and git)', function () {
  this.timeout(30_000);

  let dir: string;
  let gateway: TestGateway;
  let server: SshServer;
  let alice: KeyPair;
  let mallory: KeyPair;
  let env: NodeJS.ProcessEnv;
  let work: string;
  const logs: string[] = [];

  before(async () => {
    dir = tempDir('ssh');
    gateway = new TestGateway(join(dir, 'repos'));
    const hostKey = await keygen(dir, 'host_key');
    alice = await keygen(dir, 'alice');
    mallory = await keygen(dir, 'mallory');
    gateway.keys.set(alice.fingerprint, gateway.alice);
    server = await startSshServer({
      port: 0,
      hosts: ['127.0.0.1'],
      hostKey: readFileSync(hostKey.privatePath),
      gateway,
      log: (m) => logs.push(m),
    });
    env = isolatedEnv(dir, { GIT_SSH_COMMAND: ['ssh', ...sshArgs(alice.privatePath)].join(' ') });
    work = await workRepo(join(dir, 'work'), env);
  });

  after(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const ssh = (key: string, ...command: string[]) => run('ssh', [...sshArgs(key, server.port), 'slipway@127.0.0.1', ...command], { env });

  it('computes the same fingerprint as ssh-keygen', () => {
    const blob = Buffer.from(alice.publicKey.split(' ')[1], 'base64');
    expect(sshFingerprint(blob)).to.equal(alice.fingerprint);
  });

  it('pushes and clones over ssh:// URLs', async () => {
    await gateway.createApp('web');
    const url = `ssh://slipway@127.0.0.1:${server.port}/web.git`;
    const push = await run('git', ['push', url, 'main'], { cwd: work, env });
    expect(push.code, push.stderr).to.equal(0);
    expect(await gateway.lastPush()).to.deep.equal({ user: 'alice', app: 'web', closed: true });

    const clone = await run('git', ['clone', '-q', url, join(dir, 'clone1')], { env });
    expect(clone.code, clone.stderr).to.equal(0);
    expect(readFileSync(join(dir, 'clone1', 'Procfile'), 'utf8')).to.contain('web:');
  });

  it('pushes and clones with the scp form (slipway@host:app)', async () => {
    await gateway.createApp('scp');
    const scpEnv = { ...env, GIT_SSH_COMMAND: ['ssh', ...sshArgs(alice.privatePath, server.port)].join(' ') };
    const push = await run('git', ['push', 'slipway@127.0.0.1:scp', 'main'], { cwd: work, env: scpEnv });
    expect(push.code, push.stderr).to.equal(0);
    const clone = await run('git', ['clone', '-q', 'slipway@127.0.0.1:scp', join(dir, 'clone2')], { env: scpEnv });
    expect(clone.code, clone.stderr).to.equal(0);
  });

  it('refuses an unknown key', async () => {
    const r = await ssh(mallory.privatePath, 'apps:list');
    expect(r.code).to.equal(255);
    expect(r.stderr).to.contain('Permission denied');
    const clone = await run('git', ['clone', '-q', `ssh://slipway@127.0.0.1:${server.port}/web.git`, join(dir, 'nope')], {
      env: { ...env, GIT_SSH_COMMAND: ['ssh', ...sshArgs(mallory.privatePath)].join(' ') },
    });
    expect(clone.code).not.to.equal(0);
    expect(gateway.commands.filter((c) => c.argv[0] === 'apps:list')).to.have.length(0);
  });

  it('refuses shell syntax and runs nothing', async () => {
    const pwned = join(dir, `pwned-${process.pid}`);
    const before = gateway.commands.length;
    for (const line of [`apps:create x; touch ${pwned}`, `apps:create $(touch ${pwned})`, `apps:create \`touch ${pwned}\``]) {
      const r = await ssh(alice.privatePath, line);
      expect(r.code, line).to.equal(1);
      expect(r.stderr).to.match(/^slipway: refusing shell syntax '.' in command; Slipway commands take plain arguments/);
      expect(r.stderr.trim().split('\n')).to.have.length(1);
    }
    expect(existsSync(pwned)).to.equal(false);
    expect(gateway.commands.length).to.equal(before);
  });

  it('passes argv to runCommand unchanged and returns its exit code', async () => {
    // ssh joins its arguments with spaces, so a space inside one argument
    // needs remote quoting, exactly as with any ssh server.
    const r = await ssh(alice.privatePath, 'echo-test', "'a b'", 'c');
    expect(r.code).to.equal(3);
    expect(JSON.parse(r.stdout)).to.deep.equal(['echo-test', 'a b', 'c']);
    expect(r.stderr).to.equal('to stderr\n');
    expect(gateway.commands.at(-1)).to.include({ user: 'alice', tty: false });

    const joined = await ssh(alice.privatePath, 'echo-test', 'a b', 'c');
    expect(JSON.parse(joined.stdout)).to.deep.equal(['echo-test', 'a', 'b', 'c']);
  });

  it('streams stdin to the command and large output back in full', async () => {
    const cat = await run('ssh', [...sshArgs(alice.privatePath, server.port), 'slipway@127.0.0.1', 'cat'], {
      env,
      input: 'hello\nworld\n',
    });
    expect(cat.code).to.equal(0);
    expect(cat.stdout).to.equal('hello\nworld\n');
    const big = await ssh(alice.privatePath, 'big');
    expect(big.code).to.equal(0);
    expect(big.stdout.length).to.equal(3 * 1024 * 1024 + 5);
  });

  it('turns command errors into one stderr line and keeps serving', async () => {
    const refused = await ssh(alice.privatePath, 'refuse');
    expect(refused.code).to.equal(1);
    expect(refused.stderr).to.equal('slipway: that is not allowed (try something else)\n');
    const boom = await ssh(alice.privatePath, 'boom');
    expect(boom.code).to.equal(1);
    expect(boom.stderr).to.contain('internal error');
    expect(logs.join('\n')).to.contain('kaboom');
    const again = await ssh(alice.privatePath, 'help');
    expect(again.code).to.equal(0);
  });

  it('prints usage for an empty command; an interactive login gets help', async () => {
    const bare = await run('ssh', [...sshArgs(alice.privatePath, server.port), '-T', 'slipway@127.0.0.1'], { env });
    expect(bare.code).to.equal(1);
    expect(bare.stderr).to.contain('Usage: ssh slipway@host COMMAND');
    const empty = await ssh(alice.privatePath, "''");
    expect(empty.code).to.equal(1);
    expect(empty.stderr).to.contain('Usage:');
    const login = await run('ssh', [...sshArgs(alice.privatePath, server.port), '-tt', 'slipway@127.0.0.1'], { env });
    expect(login.code).to.equal(0);
    expect(login.stdout).to.contain('help for alice tty=true');
  });

  it('reports a pty and its size to the command', async () => {
    const r = await run('ssh', [...sshArgs(alice.privatePath, server.port), '-tt', 'slipway@127.0.0.1', 'help'], { env });
    expect(r.code).to.equal(0);
    const call = gateway.commands.at(-1)!;
    expect(call.tty).to.equal(true);
    expect(call.sizes).to.have.length(1);
  });

  it('passes window-change requests to the resize listeners', async () => {
    const conn = new Client();
    await new Promise<void>((resolve, reject) => {
      conn.on('ready', resolve).on('error', reject);
      conn.connect({ host: '127.0.0.1', port: server.port, username: 'slipway', privateKey: readFileSync(alice.privatePath) });
    });
    const code = await new Promise<number>((resolve, reject) => {
      conn.exec('cat', { pty: { cols: 80, rows: 24 } }, (err, stream) => {
        if (err) return reject(err);
        stream.on('exit', (c: number) => resolve(c)).resume();
        stream.setWindow(40, 100, 0, 0);
        stream.end();
      });
    });
    conn.end();
    expect(code).to.equal(0);
    expect(gateway.commands.at(-1)).to.deep.include({
      argv: ['cat'],
      tty: true,
      sizes: [
        [80, 24],
        [100, 40],
      ],
    });
  });

  it('speaks git protocol v2 when the client asks for it', async () => {
    const r = await run('git', ['-c', 'protocol.version=2', 'ls-remote', `ssh://slipway@127.0.0.1:${server.port}/web.git`], {
      env: { ...env, GIT_TRACE_PACKET: '1' },
    });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.contain('< version 2');
    expect(r.stdout).to.match(/refs\/heads\/main/);
  });

  it('answers unknown apps, denied apps and upload-archive on stderr', async () => {
    const missing = await run('git', ['ls-remote', `ssh://slipway@127.0.0.1:${server.port}/ghost.git`], { env });
    expect(missing.code).not.to.equal(0);
    expect(missing.stderr).to.contain("slipway: app 'ghost' not found (create it with apps:create)");
    await gateway.createApp('locked');
    const locked = await run('git', ['ls-remote', `ssh://slipway@127.0.0.1:${server.port}/locked`], { env });
    expect(locked.stderr).to.contain("you may not access app 'locked'");
    const archive = await run('git', ['archive', `--remote=ssh://slipway@127.0.0.1:${server.port}/web.git`, 'main'], { env });
    expect(archive.code).not.to.equal(0);
    expect(archive.stderr).to.contain('git archive --remote is not supported');
  });

  it('streams hook output to the client while the hook runs', async () => {
    rmSync(GATE_FILE, { force: true });
    await gateway.createApp('slow', SLOW_HOOK);
    const r = await run('git', ['push', `ssh://slipway@127.0.0.1:${server.port}/slow.git`, 'main'], {
      cwd: work,
      env,
      watch: /hook: first line/,
      onMatch: () => writeFileSync(GATE_FILE, ''),
    });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/remote: hook: first line push=push-\d+/);
    expect(r.stderr).to.contain('remote: hook: second line');
    expect(r.matchedAt, 'first hook line seen').to.be.a('number');
    const head = execFileSync('git', ['rev-parse', 'main'], { cwd: join(dir, 'repos', 'slow.git') }).toString();
    expect(head.trim()).to.have.length(40);
  });
});
