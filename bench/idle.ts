// Idle memory benchmark: the daemon's resident memory (VmRSS, as `ps` and the
// OOM killer see it) right after start, with 10 apps deployed, and after one
// app floods its log for 20 s. The baseline, measured in the same run, is a
// bare Node process that does nothing (`setInterval`): what any Node daemon
// costs before it loads a line of its own. Prints one JSON document on
// stdout; progress goes to stderr.
//
//   npm run build && npx tsx bench/idle.ts [--apps 10] [--flood 20]
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { appRepo, floodRepo, push, setMessage, sshKey, TestServer } from '../test/e2e/harness.js';

const progress = (msg: string): void => void process.stderr.write(`bench: ${msg}\n`);

/** Resident memory of one process in MB. */
function rssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)![1]) / 1024;
}

/**
 * RSS once the process has settled: the median of five readings a second
 * apart, so a garbage collection caught in the middle does not decide it.
 */
async function settledRss(pid: number): Promise<number> {
  const readings: number[] = [];
  for (let i = 0; i < 5; i++) {
    await sleep(1000);
    readings.push(rssMb(pid));
  }
  readings.sort((a, b) => a - b);
  return Math.round(readings[2]! * 10) / 10;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { apps: { type: 'string', default: '10' }, flood: { type: 'string', default: '20' } } });
  const apps = Number(values.apps);
  const floodS = Number(values.flood);
  if (!Number.isInteger(apps) || apps < 1) throw new Error(`--apps must be a positive integer, got "${values.apps}"`);
  if (!(floodS > 0)) throw new Error(`--flood must be a number of seconds, got "${values.flood}"`);

  let bare: ChildProcess | undefined;
  let server: TestServer | undefined;
  try {
    progress('the baseline: a bare node process');
    bare = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    const baseline = await settledRss(bare.pid!);

    progress('starting slipway server');
    server = await TestServer.start();
    const pid = server.proc!.pid!;
    const afterStart = await settledRss(pid);

    const key = sshKey();
    if (server.cli(['keys:add', key.pub]).code !== 0) throw new Error('keys:add failed');
    const repo = appRepo('procfile-hello');
    for (let i = 1; i <= apps; i++) {
      const app = `idle${i}`;
      progress(`deploying ${app}`);
      if (server.cli(['apps:create', app]).code !== 0) throw new Error(`apps:create ${app} failed`);
      setMessage(repo, `app ${i}`);
      const r = await push(repo, server.sshRemote(app), { sshCommand: key.sshCommand });
      if (r.code !== 0) throw new Error(`push to ${app} failed:\n${r.stderr}`);
    }
    const afterDeploys = await settledRss(pid);

    progress(`flooding one app's log for ${floodS} s`);
    if (server.cli(['apps:create', 'flood']).code !== 0) throw new Error('apps:create flood failed');
    const r = await push(floodRepo(), server.sshRemote('flood'), { sshCommand: key.sshCommand });
    if (r.code !== 0) throw new Error(`push to flood failed:\n${r.stderr}`);
    await server.get('flood', '/flood/start');
    let peak = 0;
    for (let s = 0; s < floodS; s++) {
      await sleep(1000);
      peak = Math.max(peak, rssMb(pid));
    }
    await server.get('flood', '/flood/stop');
    const afterFlood = await settledRss(pid);

    const mb = (v: number) => ({ mb: v, over_baseline_mb: Math.round((v - baseline) * 10) / 10 });
    const report = {
      bench: 'idle',
      apps,
      flood_s: floodS,
      baseline_bare_node_mb: baseline,
      daemon_after_start: mb(afterStart),
      daemon_after_deploys: mb(afterDeploys),
      daemon_flood_peak: mb(Math.round(peak * 10) / 10),
      daemon_after_flood: mb(afterFlood),
      goal_mb: 70,
    };
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  } finally {
    bare?.kill();
    if (server) {
      await server.stop();
      fs.rmSync(server.home, { recursive: true, force: true });
    }
  }
}

main().catch((err) => {
  process.stderr.write(`bench: failed: ${(err as Error).stack ?? err}\n`);
  process.exitCode = 1;
});
