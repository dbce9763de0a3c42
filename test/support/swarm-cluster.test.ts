import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import Docker from 'dockerode';
import { alive } from './proc.js';
import { requires } from './requires.js';
import { clusterUp, leftovers, sweep, type SwarmCluster } from './swarm-cluster.js';
import { TINY_IMAGE, loadTinyImage } from './swarm-images.js';

const root = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
/** Its own prefix and subnet: this file never meets a cluster another suite left up. */
const PREFIX = 'slpswt';
const SUBNET = '10.213.9';

describe('the swarm test cluster (test/support/swarm-cluster.ts)', function () {
  requires('swarm');
  this.timeout(180_000);
  let cluster: SwarmCluster | undefined;

  after(async () => {
    await sweep(PREFIX);
  });

  it('starts over what a crashed run left behind, and tears down a kill -9ed node with its container', async () => {
    // A "crashed run": a process brings a cluster up and exits without taking it down.
    const crashed = spawnSync('node', ['--import', 'tsx', '-e', `
      const { clusterUp } = await import(${JSON.stringify(path.join(root, 'test/support/swarm-cluster.ts'))});
      await clusterUp({ nodes: 1, prefix: ${JSON.stringify(PREFIX)}, subnet: ${JSON.stringify(SUBNET)} });`], { cwd: root, encoding: 'utf8' }); // prettier-ignore
    expect(crashed.status, crashed.stderr).to.equal(0);
    const left = leftovers(PREFIX);
    expect(left.some((l) => l.startsWith('network namespace'))).to.equal(true);
    expect(left.some((l) => l.includes('(dockerd)'))).to.equal(true);

    cluster = await clusterUp({ nodes: 2, prefix: PREFIX, subnet: SUBNET });
    const [one, two] = cluster.nodes;
    // Two engines that are two machines to Swarm: their own names and IDs, each on its own address.
    const infos = await Promise.all(cluster.nodes.map((n) => new Docker({ socketPath: n.socket }).info()));
    expect(infos.map((i) => i.Name)).to.deep.equal(['node1', 'node2']);
    expect(infos[0].ID).to.not.equal(infos[1].ID);
    expect(infos[0].RegistryConfig.IndexConfigs[cluster.registry]?.Secure).to.equal(false);
    expect(cluster.nodes.map((n) => n.address)).to.deep.equal([`${SUBNET}.11`, `${SUBNET}.12`]);
    // A node reaches the registry on the bridge (where it pulls release images from).
    const v2 = spawnSync('ip', ['netns', 'exec', `${PREFIX}-n2`, 'curl', '-sf', `http://${cluster.registry}/v2/`], { encoding: 'utf8' });
    expect(v2.status, v2.stderr).to.equal(0);

    await loadTinyImage(two!);
    const docker2 = new Docker({ socketPath: two!.socket });
    const container = await docker2.createContainer({ Image: TINY_IMAGE, Cmd: ['/usr/bin/sleep', '600'] });
    await container.start();
    const { State } = await container.inspect();
    cluster.kill(two!);
    expect(one).to.not.equal(undefined);
    // The container outlives its killed engine: only the sweep's cgroups find it.
    await new Promise((r) => setTimeout(r, 500));
    expect(alive(State.Pid)).to.equal(true);

    await cluster.down();
    cluster = undefined;
    expect(leftovers(PREFIX)).to.deep.equal([]);
    expect(alive(State.Pid)).to.equal(false);
    const links = spawnSync('ip', ['-o', 'link'], { encoding: 'utf8' }).stdout;
    expect(links).to.not.include(`${PREFIX}-`);
    expect(spawnSync('iptables', ['-S', 'FORWARD'], { encoding: 'utf8' }).stdout).to.not.include(PREFIX);
  });
});
