import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, tmpdir } from './harness.js';

describe('e2e: the host CLI before any server was set up', () => {
  const home = path.join(tmpdir('fresh'), 'never-started');
  const cli = (args: string[]) => spawnSync(BIN, args, { env: { ...process.env, SLIPWAY_HOME: home }, encoding: 'utf8' });

  it('shows help without a server, and creates nothing', () => {
    const r = cli(['--help']);
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.include('apps:create');
    expect(fs.existsSync(home)).to.equal(false);
  });

  it('says how to set a server up for a command that needs one', () => {
    const r = cli(['apps:list']);
    expect(r.status).to.equal(1);
    expect(r.stderr).to.include('run `slipway server` once');
  });
});
