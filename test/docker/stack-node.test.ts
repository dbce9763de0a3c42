import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { addHostNode, hostNode } from '../../src/docker/stack-node.js';
import { requires } from '../support/requires.js';

/** A root filesystem holding only what `node` and `/usr/bin/env` load: enough for the host's node, not a stack. */
function tinyRootfs(dir: string): void {
  const libs = new Set<string>();
  for (const bin of [process.execPath, '/usr/bin/env']) {
    for (const m of execFileSync('ldd', [fs.realpathSync(bin)], { encoding: 'utf8' }).matchAll(/(\/\S+) \(0x/g)) libs.add(m[1]!);
  }
  for (const lib of [...libs, '/usr/bin/env']) {
    fs.mkdirSync(path.join(dir, path.dirname(lib)), { recursive: true });
    fs.copyFileSync(fs.realpathSync(lib), path.join(dir, lib));
    fs.chmodSync(path.join(dir, lib), 0o755);
  }
}

describe("stack:build's node: the host's, checked inside the rootfs", function () {
  this.timeout(60_000);
  // chroot needs root, as guests do.
  requires('guests');
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-stack-node-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('puts the host node and its npm at /usr/local/bin when they run there', async () => {
    tinyRootfs(dir);
    const host = hostNode();
    const added = await addHostNode(dir, host);
    const hostNpm = execFileSync(process.execPath, [path.join(host.npm!, 'bin', 'npm-cli.js'), '--version'], { encoding: 'utf8' }).trim();
    expect(added).to.deep.equal({ added: true, version: process.version, npm: hostNpm });
    expect(fs.statSync(path.join(dir, 'usr/local/bin/node')).mode & 0o777).to.equal(0o755);
    expect(fs.readlinkSync(path.join(dir, 'usr/local/bin/npm'))).to.equal('../lib/node_modules/npm/bin/npm-cli.js');
  });

  it("leaves the host npm's own npmrc out (a registry token there would be every app's), and makes the rest readable by all", async () => {
    tinyRootfs(dir);
    // The host's npm as an operator may have it: credentials in its built-in config, installed with umask 077.
    const npm = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-host-npm-')), 'npm');
    try {
      fs.cpSync(hostNode().npm!, npm, { recursive: true, verbatimSymlinks: true });
      fs.writeFileSync(path.join(npm, 'npmrc'), '//registry.example/:_authToken=secret-token\n');
      fs.chmodSync(path.join(npm, 'lib'), 0o700);
      const added = await addHostNode(dir, { binary: fs.realpathSync(process.execPath), npm });
      expect(added.added).to.equal(true);
      const copy = path.join(dir, 'usr/local/lib/node_modules/npm');
      expect(fs.existsSync(path.join(copy, 'npmrc'))).to.equal(false);
      expect(fs.existsSync(path.join(copy, 'package.json'))).to.equal(true);
      expect(fs.statSync(path.join(copy, 'lib')).mode & 0o755).to.equal(0o755);
    } finally {
      fs.rmSync(path.dirname(npm), { recursive: true, force: true });
    }
  });

  it("takes them out again when the host's node cannot run in the rootfs", async () => {
    // No libc, no loader: what a host node linked against another libc than the stack's looks like.
    const added = await addHostNode(dir, hostNode());
    expect(added.added).to.equal(false);
    expect(added.added === false && added.why).to.match(/\S/);
    for (const p of ['usr/local/bin/node', 'usr/local/bin/npm', 'usr/local/bin/npx', 'usr/local/lib/node_modules/npm'])
      expect(fs.existsSync(path.join(dir, p)), p).to.equal(false);
  });
});
