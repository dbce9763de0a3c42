import { expect } from 'chai';
import Docker from 'dockerode';
import fs from 'node:fs';
import path from 'node:path';
import { tmpdir } from '../e2e/harness.js';
import { requires } from '../support/requires.js';
import { ownScratch, removeGuest } from '../../src/docker/guest.js';
import { STACK_IMAGE } from '../../src/docker/engine.js';

const docker = new Docker({ socketPath: (process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock').replace(/^unix:\/\//, '') });

/**
 * A container's labels are its image's LABELs plus the daemon's: a member's
 * Dockerfile may set `slipway.scratch` on a container the daemon later
 * removes (a build's intermediate one, say). The paths labels name are only
 * removed when the scratch dir says it is that container's.
 */
describe('removing a guest trusts the paths in its labels only for its own scratch dir (real dockerd)', function () {
  this.timeout(60_000);
  requires('docker', 'stack');
  const root = path.join(tmpdir('home'), 'run', 'docker');
  const made: string[] = [];

  after(async () => {
    for (const id of made)
      await docker
        .getContainer(id)
        .remove({ force: true })
        .catch(() => undefined);
  });

  const scratchDir = (name: string) => {
    const dir = path.join(root, name);
    fs.mkdirSync(path.join(dir, 'upper'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'upper', 'victim-writes.txt'), 'the victim container wrote this');
    return dir;
  };
  const container = async (labels: Record<string, string>) => {
    const c = await docker.createContainer({ Image: STACK_IMAGE, Cmd: ['true'], Labels: labels });
    made.push(c.id);
    return c;
  };

  it("a stranger's container labelled with another container's scratch dir leaves that dir", async () => {
    const victim = scratchDir('slipway-0000000000-victim-v3-web-1');
    await ownScratch(victim, 'the-victims-container-id');
    const orphanDir = scratchDir('slipway-0000000000-old-v1-web-1');
    for (const target of [victim, orphanDir]) {
      const stranger = await container({ 'slipway.scratch': target, 'slipway.slot': '/run/slipway-slots/0000000000/x' });
      await removeGuest(docker, stranger.id, root);
      expect(
        await stranger.inspect().then(
          () => 'still there',
          () => 'removed',
        ),
      ).to.equal('removed');
      expect(fs.existsSync(path.join(target, 'upper', 'victim-writes.txt')), target).to.equal(true);
    }
  });

  it('a container whose scratch dir names it as its owner takes the dir with it', async () => {
    const dir = scratchDir('slipway-0000000000-own-v1-web-1');
    const own = await container({ 'slipway.scratch': dir });
    await ownScratch(dir, own.id);
    await removeGuest(docker, own.id, root);
    expect(fs.existsSync(dir)).to.equal(false);
  });

  it('a container made before owner files keeps working: its scratch dir is named after it', async () => {
    const name = `slipway-0000000000-legacy-v1-web-1-${process.pid}`;
    const dir = scratchDir(name);
    const c = await docker.createContainer({ name, Image: STACK_IMAGE, Cmd: ['true'], Labels: { 'slipway.scratch': dir } });
    made.push(c.id);
    await removeGuest(docker, c.id, root);
    expect(fs.existsSync(dir)).to.equal(false);
  });
});
