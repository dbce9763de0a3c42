import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { DeployContext } from '../../src/pipeline/context.js';
import { JobLog } from '../../src/pipeline/job-log.js';
import { MODES, WORKSPACES } from '../../src/pipeline/modes.js';
import { archive } from '../../src/pipeline/stages/archive.js';
import { deployWorld, type DeployWorld } from '../support/deploy-world.js';

describe('pipeline/stages/archive', () => {
  let w: DeployWorld;
  afterEach(() => w.close());

  it('rotates to the newest snapshots, also when several are taken within one second', async () => {
    w = deployWorld();
    const app = w.newApp('snap');
    const ctx = {
      services: w.services,
      app,
      mode: 'cooking',
      stages: MODES.cooking,
      workspace: WORKSPACES.cooking,
      log: new JobLog(path.join(w.home, 'job.log')),
      signal: new AbortController().signal,
      config: {},
      previous: { version: null, instances: [] },
    } as unknown as DeployContext;
    // keepBackups is 2 in this world: of four deploys in a row, the last two must stay.
    for (let n = 1; n <= 4; n++) {
      fs.mkdirSync(w.layout.data('snap'), { recursive: true });
      fs.writeFileSync(path.join(w.layout.data('snap'), 'n.txt'), `${n}\n`);
      await archive(ctx);
    }
    const dir = w.layout.backups('snap');
    const kept = fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.tar.gz'))
      .map((f) => spawnSync('tar', ['-xzOf', path.join(dir, f), 'data/n.txt'], { encoding: 'utf8' }).stdout.trim())
      .sort();
    expect(kept).to.deep.equal(['3', '4']);
  });
});
