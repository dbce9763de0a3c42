import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runStreaming } from '../../src/builder/run-streaming.js';
import { Orphans, OWNER_VAR } from '../../src/runtime/orphans.js';
import { alive } from '../support/proc.js';
import { until } from '../support/wait.js';

/** Pids of live `sleep SECONDS` processes: each test sleeps for its own odd number of seconds. */
function sleepers(seconds: number): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8') === `sleep\0${seconds}\0` && alive(Number(entry))) out.push(Number(entry));
    } catch {
      /* gone */
    }
  }
  return out;
}

const pgrpOf = (pid: number) => Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[2]);
const unique = () => 400_000 + Math.floor(Math.random() * 500_000);

describe('Orphans: builds and one-offs do not outlive their daemon', function () {
  this.timeout(30_000);
  let dir: string;
  const strays: number[] = [];
  const children: ChildProcess[] = [];
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-orphans-'))));
  afterEach(() => {
    for (const pid of strays.splice(0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* ended, as it should have */
      }
    }
    for (const c of children.splice(0)) c.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("a build step's children, setsid'd or with a cleared environment, are ended by the next daemon's start", async () => {
    const [a, b, c] = [unique(), unique(), unique()];
    const first = new Orphans(dir);
    const lines: string[] = [];
    const step = runStreaming({
      command: 'bash',
      args: ['-c', `setsid sleep ${a} & env -i sleep ${b} & echo started; exec sleep ${c}`],
      cwd: dir,
      env: { PATH: process.env.PATH! },
      onLine: (l) => lines.push(l),
      owner: first.owner('deploy', 7),
    });
    await until('the three sleeps', () => sleepers(a).length + sleepers(b).length + sleepers(c).length === 3);
    const pids = [...sleepers(a), ...sleepers(b), ...sleepers(c)];
    strays.push(...pids);
    // The setsid'd one escaped the step's process group: a group kill alone would miss it.
    expect(pgrpOf(sleepers(a)[0]!)).to.not.equal(pgrpOf(sleepers(c)[0]!));
    expect(fs.readFileSync(`/proc/${sleepers(b)[0]}/environ`, 'utf8')).to.equal('');

    // The daemon that started them is gone; a new one starts on the same home.
    const logs: string[] = [];
    expect(new Orphans(dir).reapAll((m) => logs.push(m))).to.equal(3);
    await until('every sleep to end', () => pids.every((p) => !alive(p)));
    expect(logs.join('\n')).to.match(/ended 3 processes of builds and one-offs left by a previous run/);
    const res = await step;
    expect(res.exitSignal).to.equal('SIGKILL');
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.pgid'))).to.deep.equal([]);
  });

  it('a member with a cleared environment is found by its recorded group after its leader exited', async () => {
    const s = unique();
    const orphans = new Orphans(dir);
    void runStreaming({
      command: 'bash',
      args: ['-c', `env -i sleep ${s} & echo started`],
      cwd: dir,
      env: { PATH: process.env.PATH! },
      onLine: () => undefined,
      owner: orphans.owner('deploy', 8),
    });
    await until('the sleep', () => sleepers(s).length === 1);
    const [pid] = sleepers(s);
    strays.push(pid!);
    const leader = pgrpOf(pid!);
    await until('the leader to exit', () => !alive(leader));
    new Orphans(dir).reapAll(() => undefined);
    await until('the sleep to end', () => !alive(pid!));
  });

  it('a group is recorded even when its leader exited before it was adopted', async () => {
    const s = unique();
    // The leader (a setsid'd bash) leaves a cleared-environment member and exits;
    // its parent execs a sleep that never reaps it, so it stays a zombie: what a
    // spawner sees when the child ends before its own adopt() call runs.
    const holder = spawn('bash', ['-c', `setsid bash -c 'env -i sleep ${s} & sleep 0.2' & exec sleep ${s + 1}`], {
      stdio: 'ignore',
    });
    children.push(holder);
    await until('the sleep', () => sleepers(s).length === 1);
    const [pid] = sleepers(s);
    strays.push(pid!);
    const leader = pgrpOf(pid!);
    expect(leader).to.not.equal(pid);
    await until('the leader to be a zombie', () => !alive(leader));
    expect(fs.existsSync(`/proc/${leader}`)).to.equal(true);
    new Orphans(dir).owner('deploy', 9).adopt(leader);
    new Orphans(dir).reapAll(() => undefined);
    await until('the sleep to end', () => !alive(pid!));
  });

  it("ending one owner's processes spares other owners and other homes", async () => {
    const here = new Orphans(dir);
    const otherHome = new Orphans(path.join(dir, 'other'));
    expect(otherHome.scope).to.not.equal(here.scope);
    const start = (env: Readonly<Record<string, string>>) => {
      const s = unique();
      const child = spawn('sleep', [String(s)], { env: { PATH: process.env.PATH!, ...env }, stdio: 'ignore' });
      children.push(child);
      strays.push(child.pid!);
      return child.pid!;
    };
    const done = start(here.owner('one-off', 'web.v1.run.1').env);
    const running = start(here.owner('one-off', 'web.v1.run.2').env);
    const foreign = start(otherHome.owner('one-off', 'web.v1.run.1').env);
    const unmarked = start({});
    await until('all four to run', () =>
      [done, running, foreign, unmarked].every((p) => fs.readFileSync(`/proc/${p}/environ`, 'utf8').length > 0),
    );
    expect(fs.readFileSync(`/proc/${done}/environ`, 'utf8')).to.include(`${OWNER_VAR}=${here.scope}:one-off:web.v1.run.1`);

    expect(here.reapOwner('one-off', 'web.v1.run.1')).to.equal(1);
    await until('the finished one-off to end', () => !alive(done));
    expect([running, foreign, unmarked].map(alive)).to.deep.equal([true, true, true]);

    expect(new Orphans(dir).reapAll(() => undefined)).to.equal(1);
    await until('the other one-off of this home to end', () => !alive(running));
    expect([foreign, unmarked].map(alive)).to.deep.equal([true, true]);
  });

  it('a recorded group whose pid now names another process is left alone', () => {
    const s = unique();
    const child = spawn('sleep', [String(s)], { detached: true, stdio: 'ignore' });
    children.push(child);
    // A record of the same pid with another start time: what a recycled pid looks like after a crash.
    fs.writeFileSync(path.join(dir, `deploy.9.${child.pid}.pgid`), `${child.pid} 1\n`);
    new Orphans(dir).reapAll(() => undefined);
    expect(alive(child.pid!)).to.equal(true);
    expect(fs.existsSync(path.join(dir, `deploy.9.${child.pid}.pgid`))).to.equal(false);
  });
});
