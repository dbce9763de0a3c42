import { expect } from 'chai';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { addBuildpack, appRepo, commitAll, eventually, push, ssh, sshArgs, sshKey, useServer, type TestServer } from './harness.js';
import { query } from './db.js';
import { requires } from '../support/requires.js';

/**
 * A hostile member with one app of her own, under the default process driver:
 * every place her code runs (build, stage hook, release phase, web process,
 * `run`) tries to reach the server and another user's app. Each attempt must
 * fail, and the victim must keep serving its own body throughout.
 */

/** Every attack prints `ATTACK <where> <what>: blocked|SUCCEEDED`; the paths come from the test as env vars. */
const PROBE = `#!/bin/bash
where=$1
try() {
  local what=$1; shift
  if "$@" >/dev/null 2>&1; then echo "ATTACK $where $what: SUCCEEDED"; else echo "ATTACK $where $what: blocked"; fi
}
try read-db cat "$H/slipway.db"
try read-secret-key cat "$H/secret.key"
try read-host-key cat "$H/ssh_host_ed25519_key"
try read-victim-release cat "$H/apps/$VICTIM/releases/current/server.js"
try list-victim-releases ls "$H/apps/$VICTIM/releases"
try read-victim-data cat "$H/apps/$VICTIM/data/v.txt"
try read-victim-environ grep -q VICTIM_SECRET "/proc/$VPID/environ"
try scan-environs sh -c 'grep -qs topsecret-value /proc/[0-9]*/environ'
try connect-control-sock node -e "require('net').connect(process.argv[1]).on('connect',()=>process.exit(0)).on('error',()=>process.exit(1))" "$H/control.sock"
try write-victim-release touch "$H/apps/$VICTIM/releases/current/pwned"
try write-victim-data touch "$H/apps/$VICTIM/data/pwned"
try kill-victim kill -9 "$VPID"
try bind-victim-port node -e "require('net').createServer().listen(+process.argv[1],'127.0.0.1',()=>process.exit(0)).on('error',()=>process.exit(1))" "$VPORT"
try write-host-etc touch /etc/pwned
echo "ATTACK $where uid=$(id -u)"
`;

/** Waits for a port to come free, then serves its own page there for 5 s. */
const GRAB = `const port = Number(process.argv[2]);
const t = Date.now();
console.log('waiting');
function grab() {
  require('http').createServer((q, r) => r.end('PWNED')).listen(port, '127.0.0.1', () => {
    console.log('bound');
    setTimeout(() => process.exit(0), 5000);
  }).on('error', () => (Date.now() - t < 15000 ? setTimeout(grab, 2) : process.exit(3)));
}
grab();
`;

const ATTACKS = [
  'read-db',
  'read-secret-key',
  'read-host-key',
  'read-victim-release',
  'list-victim-releases',
  'read-victim-data',
  'read-victim-environ',
  'scan-environs',
  'connect-control-sock',
  'write-victim-release',
  'write-victim-data',
  'kill-victim',
  'bind-victim-port',
  'write-host-etc',
];

/** The host pid of the victim's node process (found by the env its guest gave it) and its web port. */
function victimProcess(server: TestServer): { pid: number; port: number } {
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let env: string[];
    let cmd: string;
    try {
      env = fs.readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      cmd = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (env.includes('SLIPWAY_APP=victim') && env.includes('DYNO=web.1') && cmd.startsWith('node')) {
      const port = Number(env.find((e) => e.startsWith('PORT='))!.slice(5));
      return { pid: Number(entry), port };
    }
  }
  throw new Error(`victim's web process not found (home ${server.home})`);
}

function expectAllBlocked(output: string, where: string, uid: number): void {
  for (const attack of ATTACKS) expect(output, `${where}: ${attack}`).to.contain(`ATTACK ${where} ${attack}: blocked`);
  expect(output).not.to.contain('SUCCEEDED');
  expect(output, `${where} runs as the app's uid`).to.contain(`ATTACK ${where} uid=${uid}`);
}

describe('e2e: tenants are isolated from the host and from each other (process driver)', function () {
  this.timeout(300_000);
  requires('guests');
  const env = useServer();
  let server: TestServer;
  const mallory = sshKey();
  let victim: { pid: number; port: number };
  let malloryUid = 0;
  let pushOutput = '';
  const watch = { stop: false, bodies: new Set<string>(), errors: 0, done: Promise.resolve() };

  const ok = (args: string[], input?: string) => {
    const r = server.cli(args, input);
    expect(r.code, `slipway ${args.join(' ')}: ${r.stderr}`).to.equal(0);
    return r.stdout;
  };

  before(async function () {
    server = env.server;
    // The victim: another user's app with a secret, data and a live web process.
    ok(['users:add', 'victor']);
    ok(['users:add', 'mallory']);
    ok(['keys:add', '--user', 'mallory', mallory.pub]);
    ok(['apps:create', 'victim']);
    ok(['apps:transfer', 'victim', 'victor']);
    ok(['config:set', 'victim', '--secret', 'VICTIM_SECRET=topsecret-value']);
    const repo = appRepo('node-hello');
    const pushed = await push(repo, server.sshRemote('victim'), { sshCommand: env.key.sshCommand });
    expect(pushed.code, pushed.stderr).to.equal(0);
    ok(['run', 'victim', '--', 'sh', '-c', 'echo victim-data > /data/v.txt']);
    expect((await server.get('victim')).body).to.equal('Hello from Slipway');
    victim = victimProcess(server);

    // Watch the victim all along: every answer must be its own body.
    watch.done = (async () => {
      while (!watch.stop) {
        const r = await server.get('victim').catch(() => ({ status: 0, body: '' }));
        if (r.status === 200) watch.bodies.add(r.body);
        else watch.errors++;
        await new Promise((res) => setTimeout(res, 100));
      }
    })();

    // The attacker's app: the probe in every place her code runs.
    const attack = appRepo('node-hello');
    fs.writeFileSync(path.join(attack, 'probe.sh'), PROBE, { mode: 0o755 });
    fs.writeFileSync(path.join(attack, 'grab.js'), GRAB);
    fs.writeFileSync(path.join(attack, 'Procfile'), 'release: bash probe.sh release\nweb: bash probe.sh web; exec node server.js\n');
    fs.mkdirSync(path.join(attack, '.slipway'));
    fs.writeFileSync(path.join(attack, '.slipway', 'configure'), '#!/bin/bash\nexec bash probe.sh hook\n', { mode: 0o755 });
    // A build step of her own: the buildpack's compile (its env comes from ENV_DIR, as on Heroku).
    addBuildpack(attack, 'evilpack', 'set -a; for f in "$3"/*; do export "$(basename "$f")=$(cat "$f")"; done; bash "$1/probe.sh" build');
    fs.appendFileSync(path.join(attack, '.buildpacks'), 'nodejs\n');
    commitAll(attack, 'probe everywhere');
    const asMallory = (args: string[]) => ssh(mallory.key, server.ports.ssh, args);
    const created = asMallory(['apps:create', 'attacker']);
    expect(created.code, created.stderr).to.equal(0);
    const set = asMallory(['config:set', 'attacker', `H=${server.home}`, 'VICTIM=victim', `VPID=${victim.pid}`, `VPORT=${victim.port}`]);
    expect(set.code, set.stderr).to.equal(0);
    const r = await push(attack, server.sshRemote('attacker'), { sshCommand: mallory.sshCommand });
    pushOutput = r.stdout + r.stderr;
    expect(r.code, pushOutput).to.equal(0);
    malloryUid = query<{ uid: number }>(server.home, "SELECT uid FROM apps WHERE name = 'attacker'")[0]!.uid;
  });

  after(async () => {
    watch.stop = true;
    await watch.done;
  });

  it('gives each app its own uid, neither root nor the server', () => {
    const uids = query<{ name: string; uid: number }>(server.home, 'SELECT name, uid FROM apps ORDER BY name');
    expect(uids.map((u) => u.name)).to.deep.equal(['attacker', 'victim']);
    expect(uids[0]!.uid).to.not.equal(uids[1]!.uid);
    for (const u of uids) expect(u.uid).to.be.at.least(70000).and.not.equal(process.getuid!());
  });

  it('blocks every attack from the build', () => expectAllBlocked(pushOutput, 'build', malloryUid));
  it('blocks every attack from a .slipway stage hook', () => expectAllBlocked(pushOutput, 'hook', malloryUid));
  it('blocks every attack from the release phase', () => expectAllBlocked(pushOutput, 'release', malloryUid));

  it('blocks every attack from the web process', async () => {
    await eventually(() => server.cli(['logs', 'attacker', '-n', '200']).stdout.includes('ATTACK web uid='), 'the web probe to finish');
    expectAllBlocked(server.cli(['logs', 'attacker', '-n', '200']).stdout, 'web', malloryUid);
  });

  it('blocks every attack from `run`', () => {
    const r = ssh(mallory.key, server.ports.ssh, ['run', 'attacker', '--', 'bash', 'probe.sh', 'run']);
    expect(r.code, r.stderr).to.equal(0);
    expectAllBlocked(r.stdout, 'run', malloryUid);
  });

  it('left the victim untouched and serving its own body throughout', async () => {
    expect(watch.bodies).to.deep.equal(new Set(['Hello from Slipway']));
    expect(watch.errors).to.equal(0);
    expect(fs.readFileSync(path.join(server.home, 'apps/victim/data/v.txt'), 'utf8')).to.equal('victim-data\n');
    expect(fs.existsSync(path.join(server.home, 'apps/victim/data/pwned'))).to.equal(false);
    expect(fs.existsSync(path.join(server.home, 'apps/victim/releases/current/pwned'))).to.equal(false);
    expect(fs.existsSync('/etc/pwned')).to.equal(false);
    expect(victimProcess(server).pid).to.equal(victim.pid);
    expect(server.cli(['ps', 'victim']).stdout).to.match(/web\.1\s+up\s+v1\s+\d+\s+\d+\s+0\s/);
  });

  it("never routes the victim's traffic to another app that took its port after a crash", async () => {
    watch.stop = true;
    await watch.done;
    // Mallory's one-off waits for the victim's port to come free and serves its own page there.
    const child = spawn(
      'ssh',
      [...sshArgs(mallory.key, server.ports.ssh), 'run', 'attacker', '--', 'node', 'grab.js', String(victim.port)],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const ended = new Promise((r) => child.once('close', r));
    await eventually(() => out.includes('waiting'), 'the squatter to be ready');
    // The victim's process dies (a crash).
    process.kill(victim.pid, 'SIGKILL');
    const bodies: string[] = [];
    for (let i = 0; i < 40; i++) {
      bodies.push((await server.get('victim').catch(() => ({ body: 'error' }))).body);
      await new Promise((r) => setTimeout(r, 100));
    }
    await ended;
    expect(out, `the attacker really held the port:\n${out}\n${server.output.slice(-3000)}`).to.contain('bound');
    expect(bodies).not.to.include('PWNED');
    // Once the squatter is gone the victim comes back on its own.
    await eventually(async () => (await server.get('victim')).body === 'Hello from Slipway', 'the victim to serve again', 60_000);
  });
});
