// Rollback benchmark: how long from `slipway rollback` until the router serves
// the old body, against a redeploy of that same commit (git push --force of the
// old commit, which rebuilds). Prints one JSON document; progress on stderr.
//
//   npx tsx bench/rollback.ts [--runs 5]
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import os from 'node:os';
import { appRepo, git, push, setMessage, sshKey, TestServer } from '../test/e2e/harness.js';
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

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer, got "${values.runs}"`);
  const server = await TestServer.start();
  const key = sshKey();
  const rollbackMs: number[] = [];
  const redeployMs: number[] = [];
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

      progress(`run ${i}/${runs}: rollback to v${oldVersion}`);
      let t0 = performance.now();
      const r = server.cli(['rollback', app, `v${oldVersion}`]);
      if (r.code !== 0) throw new Error(`rollback failed: ${r.stderr}`);
      rollbackMs.push(await untilServed(server, app, `old ${i}`, t0));

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
  process.stdout.write(
    JSON.stringify(
      {
        bench: 'rollback',
        runs,
        machine: { cpus: os.cpus().length, node: process.version },
        results: {
          redeploy_same_commit_ms: redeploy,
          rollback_ms: { ...rollback, ratio_to_redeploy: ratio(rollback, redeploy) },
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
