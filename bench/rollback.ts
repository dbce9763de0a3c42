// Rollback benchmark: how long from `slipway rollback` until the router serves
// the old body, against a redeploy of that same commit (git push --force of the
// old commit, which rebuilds), and against the app's own start (`npm start`
// until it listens, run by hand outside Slipway: what no rollback can go under).
// Prints one JSON document; progress on stderr.
//
//   npx tsx bench/rollback.ts [--runs 5]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import os from 'node:os';
import { appRepo, freePort, git, push, setMessage, sshKey, tmpdir, TestServer } from '../test/e2e/harness.js';
import { ratio, summarize } from './lib/stats.js';

const progress = (msg: string): void => void process.stderr.write(`bench: ${msg}\n`);

async function untilServed(server: TestServer, app: string, expected: string, t0: number): Promise<number> {
  for (;;) {
    const r = await server.get(app).catch(() => ({ status: 0, body: '' }));
    if (r.status === 200 && r.body.trim() === expected) return performance.now() - t0;
    if (performance.now() - t0 > 120_000) throw new Error(`${app} never served "${expected}"`);
    await sleep(20);
  }
}

/**
 * `npm start` in a copy of the app until its port accepts a connection: the
 * start a rollback has to pay for. The environment is the one Slipway gives the
 * app's processes where it matters here: npm's update check off (the nodejs
 * buildpack's profile), no NODE_EXTRA_CA_CERTS (apps get --use-openssl-ca).
 */
async function appStart(dir: string): Promise<number> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), HOME: tmpdir('npm-home'), npm_config_update_notifier: 'false' };
  delete env.NODE_EXTRA_CA_CERTS;
  const t0 = performance.now();
  const child = spawn('npm', ['start'], { cwd: dir, env, stdio: 'ignore', detached: true });
  try {
    while (!(await accepts(port))) {
      if (child.exitCode !== null) throw new Error(`npm start exited (${child.exitCode}) before it listened`);
      if (performance.now() - t0 > 30_000) throw new Error('npm start did not listen within 30 s');
      await sleep(2);
    }
    return performance.now() - t0;
  } finally {
    // npm and the app under it, as one group.
    process.kill(-child.pid!, 'SIGKILL');
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer, got "${values.runs}"`);
  const server = await TestServer.start();
  const key = sshKey();
  const rollbackMs: number[] = [];
  const redeployMs: number[] = [];
  const appStartMs: number[] = [];
  try {
    if (server.cli(['keys:add', key.pub]).code !== 0) throw new Error('keys:add failed');
    // The node example, so the redeploy pays for a real buildpack build as users' apps do.
    const app = 'rollbench';
    if (server.cli(['apps:create', app]).code !== 0) throw new Error('apps:create failed');
    const repo = appRepo('node-hello');
    const remote = server.sshRemote(app);
    for (let i = 1; i <= runs; i++) {
      setMessage(repo, `old ${i}`);
      const oldCommit = git(repo, ['rev-parse', 'HEAD']).stdout.trim();
      if ((await push(repo, remote, { sshCommand: key.sshCommand, args: ['--force'] })).code !== 0) throw new Error('push failed');
      const oldVersion = server.cli(['releases', app]).stdout.match(/^v(\d+)\*/m)![1];
      setMessage(repo, `new ${i}`);
      if ((await push(repo, remote, { sshCommand: key.sshCommand })).code !== 0) throw new Error('push failed');
      const newVersion = server.cli(['releases', app]).stdout.match(/^v(\d+)\*/m)![1];

      progress(`run ${i}/${runs}: the app's own start`);
      const copy = path.join(tmpdir('app-start'), 'app');
      fs.cpSync(repo, copy, { recursive: true, filter: (f) => path.basename(f) !== '.git' });
      appStartMs.push(await appStart(copy));

      progress(`run ${i}/${runs}: rollback to v${oldVersion}`);
      // Polled while the CLI runs, as the redeploy is while its push runs: the old body is
      // served from the switch on, before the job has stopped the new release and ended.
      let t0 = performance.now();
      const rolling = server.cliAsync(['rollback', app, `v${oldVersion}`]);
      rollbackMs.push(await untilServed(server, app, `old ${i}`, t0));
      const r = await rolling;
      if (r.code !== 0) throw new Error(`rollback failed: ${r.stderr}`);

      // Back to "new" (untimed), then the same old commit again by pushing it: a rebuild.
      if (server.cli(['rollback', app, `v${newVersion}`]).code !== 0) throw new Error('rollback to new failed');
      progress(`run ${i}/${runs}: redeploy of the same commit`);
      t0 = performance.now();
      const pushed = push(repo, remote, { sshCommand: key.sshCommand, args: ['--force'], ref: `${oldCommit}:refs/heads/main` });
      redeployMs.push(await untilServed(server, app, `old ${i}`, t0));
      await pushed;
    }
  } finally {
    await server.stop();
  }
  const redeploy = summarize(redeployMs);
  const rollback = summarize(rollbackMs);
  const start = summarize(appStartMs);
  process.stdout.write(
    JSON.stringify(
      {
        bench: 'rollback',
        runs,
        machine: { cpus: os.cpus().length, node: process.version },
        results: {
          redeploy_same_commit_ms: redeploy,
          app_start_ms: start,
          rollback_ms: {
            ...rollback,
            ratio_to_redeploy: ratio(rollback, redeploy),
            ratio_to_app_start: ratio(rollback, start),
            over_app_start_ms: Math.round(rollback.median - start.median),
          },
        },
      },
      null,
      2,
    ) + '\n',
  );
}

main().catch((err) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
