import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { commitAll, git, type sshKey, type TestServer, tmpdir } from '../../test/e2e/harness.js';
import { timedPush } from './measure.js';
import type { ThrowawaySshd } from './sshd.js';
import { summarize, type Summary } from './stats.js';

/**
 * `bench/push.ts --big`: how fast a large push crosses Slipway's SSH server,
 * against the same push to a bare repository over OpenSSH in the same run.
 * The commit holds MB of random bytes (nothing for git to compress) and is
 * pushed to a branch that does not deploy, so the timing is the transport
 * (pack upload, index-pack, hooks), not a build.
 */
export interface BigPushRig {
  server: TestServer;
  sshd: ThrowawaySshd;
  key: ReturnType<typeof sshKey>;
  mustCli(args: string[]): string;
  progress(msg: string): void;
}

export async function measureBigPush(rig: BigPushRig, runs: number, mb: number): Promise<object> {
  const repo = tmpdir('bench-big');
  try {
    // One write of random data: 1 MiB blocks, so memory stays small for any size.
    const fd = fs.openSync(path.join(repo, 'blob.bin'), 'w');
    for (let i = 0; i < mb; i++) fs.writeSync(fd, crypto.randomBytes(1024 * 1024));
    fs.closeSync(fd);
    git(repo, ['init', '-q', '-b', 'big']);
    commitAll(repo, `${mb} MB of random data`);
    const floor: number[] = [];
    const slipway: number[] = [];
    for (let run = 1; run <= runs; run++) {
      const bare = tmpdir('bench-big-bare');
      try {
        if (git(bare, ['init', '-q', '--bare']).code !== 0) throw new Error('git init --bare failed');
        floor.push(
          await timedPush({ repo, ref: 'big', remote: rig.sshd.remote(bare), sshCommand: rig.key.sshCommand }, `big floor ${run}`),
        );
      } finally {
        fs.rmSync(bare, { recursive: true, force: true });
      }
      // A fresh app each run, so every object crosses again.
      const app = `bench-big-${run}`;
      rig.mustCli(['apps:create', app]);
      try {
        slipway.push(
          await timedPush({ repo, ref: 'big', remote: rig.server.sshRemote(app), sshCommand: rig.key.sshCommand }, `big slipway ${run}`),
        );
      } finally {
        rig.server.cli(['apps:destroy', app, '--confirm', app]);
      }
      rig.progress(`big run ${run}/${runs}: floor ${floor.at(-1)!.toFixed(0)}ms, slipway ${slipway.at(-1)!.toFixed(0)}ms`);
    }
    const f = summarize(floor);
    const s = summarize(slipway);
    const throughput = (x: Summary) => Math.round((mb / (x.median / 1000)) * 10) / 10;
    return {
      bench: 'push --big',
      runs,
      megabytes: mb,
      results: {
        floor_openssh_bare_repo_ms: { ...f, mb_per_s: throughput(f) },
        slipway_ssh_ms: { ...s, mb_per_s: throughput(s) },
        throughput_ratio_to_floor: Math.round((f.median / s.median) * 100) / 100,
      },
      goal_throughput_ratio: 0.8,
    };
  } finally {
    fs.rmSync(repo, { recursive: true, force: true });
  }
}
