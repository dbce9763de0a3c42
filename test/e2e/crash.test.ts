import { expect } from 'chai';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { addBuildpack, appRepo, push, setMessage, ssh, sshKey, TestServer } from './harness.js';
import { query } from './db.js';
import { alive, processesRunning } from '../support/proc.js';
import { until } from '../support/wait.js';

/**
 * Where the daemon is killed (`SLIPWAY_TEST_CRASH_AT`, see src/crash-point.ts),
 * and which release must be live after the restart: the new one exactly when
 * the router had been switched to it.
 */
const PHASES: Array<{ at: string; live: 'old' | 'new' }> = [
  { at: 'trigger:after', live: 'old' },
  { at: 'archive:after', live: 'old' },
  { at: 'init-sync:after', live: 'old' },
  { at: 'configure:after', live: 'old' },
  // Killed from outside while bin/compile runs (no crash point): the build's processes must not survive.
  { at: 'during-build', live: 'old' },
  { at: 'build:after', live: 'old' },
  { at: 'activate:before-switch', live: 'old' },
  { at: 'upgrade:after', live: 'new' },
  { at: 'bundle:during', live: 'new' },
  { at: 'bundle:after', live: 'new' },
  { at: 'post-install:after', live: 'new' },
  // Last: the release has no archive yet, and the clean restart after it checks that config:set works.
  { at: 'activate:after-switch', live: 'new' },
];

const APP = 'crashy';

const procPids = () =>
  fs
    .readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map(Number);
const read = (file: string) => {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
};
const pgrpOf = (pid: number) => Number(read(`/proc/${pid}/stat`)?.split(') ')[1]?.split(' ')[2]);

/** Every file under `dir`, recursively (symlinks not followed). */
function files(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...files(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

describe('e2e: kill -9 of the daemon at every stage boundary of a deploy', function () {
  this.timeout(900_000);
  let server: TestServer;
  let repo: string;
  let sshCommand: string;
  let key: ReturnType<typeof sshKey>;
  // Over SSH rather than the host CLI: the same commands and output, without a Node start-up per call.
  const slipway = (...args: string[]) => ssh(key.key, server.ports.ssh, args);
  const secret = `s3cret-${crypto.randomBytes(6).toString('hex')}`;
  // What a build step and a hook start with setsid, each test run its own number of seconds.
  const orphanSeconds = String(600_000 + Math.floor(Math.random() * 300_000));
  const orphan = ['sleep', orphanSeconds];
  // What bin/compile itself sleeps when the repo asks for a slow build.
  const slow = ['sleep', String(Number(orphanSeconds) + 1)];
  const appDir = () => path.join(server.home, 'apps', APP);

  before(async function () {
    this.timeout(120_000);
    server = await TestServer.start();
    key = sshKey();
    sshCommand = key.sshCommand;
    expect(server.cli(['keys:add', key.pub]).code).to.equal(0);
    expect(server.cli(['apps:create', APP]).code).to.equal(0);
    const set = server.cli(['config:set', APP, '--secret', `API_KEY=${secret}`]);
    expect(set.code, set.stderr).to.equal(0);
    repo = appRepo('env-app');
    // A buildpack that leaves a setsid'd child behind, and compiles for as long as the repo says (`slow`).
    addBuildpack(
      repo,
      'crash-bp',
      [
        `setsid sleep ${orphanSeconds} >/dev/null 2>&1 &`,
        `if [ -f "$1/slow" ]; then touch "$2/compiling"; sleep ${slow[1]}; fi`,
        'echo "-----> compiled"',
      ].join('\n'),
    );
    // A hook that does the same: hooks are processes of the deploy too.
    fs.mkdirSync(path.join(repo, '.slipway'));
    fs.writeFileSync(path.join(repo, '.slipway', 'configure'), `#!/bin/sh\nsetsid sleep ${orphanSeconds} >/dev/null 2>&1 &\n`, {
      mode: 0o755,
    });
    setMessage(repo, 'release one');
    const first = await push(repo, server.sshRemote(APP), { sshCommand });
    expect(first.code, first.stderr).to.equal(0);
    // What a finished deploy's build and hook left running ended with its job.
    await until('the first build’s leftovers to end', () => processesRunning(orphan).length === 0);
    // From here on the daemon runs armed with the crash point of the phase to come.
    await server.stop();
    server.extraEnv.SLIPWAY_TEST_CRASH_AT = PHASES[0]!.at;
    await server.boot();
  });

  after(async () => {
    await server?.stop();
    for (const pid of processesRunning(orphan)) process.kill(pid, 'SIGKILL');
  });

  /** The release the router serves, by asking the app itself. */
  const served = async () => {
    const [body, release] = await Promise.all([server.get(APP), server.get(APP, '/env/SLIPWAY_RELEASE')]);
    expect(body.status, body.body).to.equal(200);
    expect(release.status).to.equal(200);
    return { message: body.body.trim(), version: Number(release.body.trim().slice(1)) };
  };

  /**
   * Makes sure the daemon runs, armed with crash point `at` (undefined: none). A phase normally
   * finds it so (the previous one restarted it armed); one run alone, or after a failed one, does not.
   */
  const armedFor = async (at: string | undefined) => {
    const dead = server.proc!.exitCode !== null || server.proc!.signalCode !== null;
    if (!dead && server.extraEnv.SLIPWAY_TEST_CRASH_AT === at) return;
    if (!dead) await server.stop();
    if (at) server.extraEnv.SLIPWAY_TEST_CRASH_AT = at;
    else delete server.extraEnv.SLIPWAY_TEST_CRASH_AT;
    await server.boot();
  };

  const currentRelease = () => query(server.home, 'SELECT current_release AS v FROM apps WHERE name = ?', APP)[0].v as number;

  /** What a user would check after the restart; `live` is the release that must be serving. */
  const checkAfterRestart = async (live: { version: number; message: string }, notLive?: number) => {
    const now = await served();
    expect(now).to.deep.equal(live);
    expect(currentRelease(), 'the store’s current release').to.equal(live.version);
    const releases = slipway('releases', APP).stdout;
    expect(releases).to.match(new RegExp(`^v${live.version}\\*\\s+\\S+\\s+succeeded\\s`, 'm'));
    expect(releases.match(/^v\d+\*/gm), 'one live release').to.have.length(1);
    const row = query(
      server.home,
      'SELECT archive_path, sha256 FROM releases r JOIN apps a ON a.id = r.app_id WHERE a.name = ? AND r.version = ?',
      APP,
      live.version,
    )[0];
    expect(row.archive_path, 'the live release’s archive').to.be.a('string');
    expect(crypto.createHash('sha256').update(fs.readFileSync(row.archive_path)).digest('hex')).to.equal(row.sha256);
    expect(fs.readlinkSync(path.join(appDir(), 'releases', 'current')), 'releases/current').to.equal(
      path.join(appDir(), 'releases', `v${live.version}`),
    );
    if (notLive !== undefined) {
      expect(releases).to.match(new RegExp(`^v${notLive}\\s+\\S+\\s+failed\\s`, 'm'));
      expect(fs.existsSync(path.join(appDir(), 'releases', `v${notLive}`)), 'the failed release’s directory').to.equal(false);
    }
    expect(query(server.home, 'PRAGMA integrity_check')[0].integrity_check).to.equal('ok');

    // No scratch: the ENV_DIR held the secret in plain text; temp archives and snapshots are half-written files.
    for (const dir of ['env', 'build', 'tmp', 'uploads'])
      expect(fs.existsSync(path.join(appDir(), dir)), `apps/${APP}/${dir}`).to.equal(false);
    const all = files(server.home);
    expect(all.filter((f) => path.basename(f).startsWith('.') && /\/(archives|backups)\//.test(f))).to.deep.equal([]);
    expect(
      all.filter((f) => fs.readFileSync(f).includes(secret)),
      'files holding the secret in plain text',
    ).to.deep.equal([]);

    // No process of the dead daemon: neither the setsid'd children nor any app process outside the instances now listed.
    await until('the orphaned build children to end', () => processesRunning(orphan).length + processesRunning(slow).length === 0);
    const groups = slipway('ps', APP)
      .stdout.split('\n')
      .filter((l) => /^\w+\.\d+\s/.test(l))
      .map((l) => Number(l.trim().split(/\s+/)[4]));
    expect(groups.length).to.be.greaterThan(0);
    const ours = `SLIPWAY_DATA_DIR=${path.join(appDir(), 'data')}`;
    const strays = () =>
      procPids().filter((pid) => read(`/proc/${pid}/environ`)?.split('\0').includes(ours) && alive(pid) && !groups.includes(pgrpOf(pid)));
    await until('no app process outside the listed instances', () => strays().length === 0);
  };

  for (const [i, phase] of PHASES.entries()) {
    it(`at ${phase.at}: after a restart the ${phase.live} release serves, and the record agrees`, async () => {
      // during-build is killed from outside: no crash point.
      await armedFor(phase.at === 'during-build' ? undefined : phase.at);
      const before = await served();
      const next =
        (query(server.home, 'SELECT max(version) AS v FROM releases r JOIN apps a ON a.id = r.app_id WHERE a.name = ?', APP)[0]
          .v as number) + 1;
      const message = `phase ${i} ${phase.at}`;
      fs.rmSync(path.join(repo, 'slow'), { force: true });
      if (phase.at === 'during-build') fs.writeFileSync(path.join(repo, 'slow'), '');
      setMessage(repo, message);

      const proc = server.proc!;
      const died = new Promise<void>((r) => (proc.exitCode !== null || proc.signalCode !== null ? r() : proc.once('exit', () => r())));
      const pushing = push(repo, server.sshRemote(APP), { sshCommand, args: ['--force'] });
      if (phase.at === 'during-build') {
        await until('bin/compile to run', () => fs.existsSync(path.join(appDir(), 'cache', 'compiling')), 60_000);
        fs.rmSync(path.join(appDir(), 'cache', 'compiling'));
        await server.kill9();
      }
      const pushed = await pushing;
      await Promise.race([
        died,
        new Promise((_, reject) => setTimeout(() => reject(new Error(`the daemon did not die at ${phase.at}:\n${pushed.stderr}`)), 15_000)),
      ]);
      expect(proc.signalCode).to.equal('SIGKILL');
      // What the dead daemon left, so that the checks below check something.
      if (phase.at === 'configure:after') expect(fs.readFileSync(path.join(appDir(), 'env', 'API_KEY'), 'utf8')).to.equal(secret);
      if (phase.at === 'bundle:during')
        expect(fs.readdirSync(path.join(appDir(), 'archives')).filter((f) => f.startsWith(`.v${next}-`))).to.have.length(1);
      // The configure hook's and the buildpack's setsid'd children, and bin/compile's own sleep, ran in
      // guests: those die with their daemon (bwrap's --die-with-parent takes the guest's pid namespace along).
      if (phase.at === 'during-build')
        await until(
          'the build guests to end with their daemon',
          () => processesRunning(orphan).length + processesRunning(slow).length === 0,
          10_000,
        );

      // Restarted with the next phase's crash point armed: deploys only ever reach it.
      const following = PHASES[i + 1]?.at;
      if (following && following !== 'during-build') server.extraEnv.SLIPWAY_TEST_CRASH_AT = following;
      else delete server.extraEnv.SLIPWAY_TEST_CRASH_AT;
      await server.boot();

      if (phase.live === 'old') {
        // Before init-sync there is no new release yet; from it on, the new one is failed and its directory gone.
        await checkAfterRestart(before, ['trigger:after', 'archive:after'].includes(phase.at) ? undefined : next);
      } else {
        await checkAfterRestart({ version: next, message });
      }
      const job = query(
        server.home,
        'SELECT status, error FROM jobs j JOIN apps a ON a.id = j.app_id WHERE a.name = ? ORDER BY j.id DESC LIMIT 1',
        APP,
      )[0];
      if (phase.at === 'post-install:after') {
        // Every stage had run: only notify was left.
        expect(job.status).to.equal('succeeded');
        expect(server.output).to.include(`the Slipway server stopped after the last stage; v${next} is live`);
      } else {
        expect(job.status).to.equal('failed');
        expect(job.error).to.match(
          phase.live === 'new'
            ? new RegExp(`^interrupted: the Slipway server stopped after v${next} went live; v${next} stays live, but .* did not run`)
            : /^interrupted: the Slipway server stopped during this deploy/,
        );
      }
    });
  }

  it('after the last crash, the live release is a full one: config:set makes a config release from its archive', async () => {
    await armedFor(undefined);
    const live = await served();
    const r = server.cli(['config:set', APP, 'GREETING=after the crash']);
    expect(r.code, r.stderr + r.stdout).to.equal(0);
    expect((await server.get(APP, '/env/GREETING')).body.trim()).to.equal('after the crash');
    expect((await served()).message).to.equal(live.message);
    expect(slipway('releases', APP).stdout).to.match(new RegExp(`^v${live.version + 1}\\*\\s+config\\s+succeeded`, 'm'));
  });

  it("a one-off's processes, setsid'd ones too, end at the next start after a crash", async () => {
    await armedFor(undefined);
    const seconds = String(600_000 + Math.floor(Math.random() * 300_000));
    const running = server.cliAsync(['run', APP, '--', 'sh', '-c', `setsid sleep ${seconds} >/dev/null 2>&1 & exec sleep ${seconds}`]);
    await until('both sleeps of the one-off', () => processesRunning(['sleep', seconds]).length === 2, 30_000);
    const pids = processesRunning(['sleep', seconds]);
    await server.kill9();
    await running;
    // A guest dies with its daemon (its pid namespace goes along), but not at once: give it a moment, so that
    // `left` counts only what a guest-less server leaves behind, which the next start must end and report.
    await until('a guest to go with its daemon', () => !pids.some(alive), 2_000).catch(() => undefined);
    const left = pids.filter(alive).length;
    await server.boot();
    try {
      await until('the one-off’s processes to end', () => !pids.some(alive));
    } finally {
      for (const pid of pids.filter(alive)) process.kill(pid, 'SIGKILL');
    }
    if (left) expect(server.output).to.match(/ended \d+ process(es)? of builds and one-offs left by a previous run/);
  });
});
