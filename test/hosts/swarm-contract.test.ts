import { expect } from 'chai';
import Docker from 'dockerode';
import { homeId } from '../../src/docker/labels.js';
import { ReleaseImages } from '../../src/runtime/swarm/release-image.js';
import { SwarmDriver } from '../../src/runtime/swarm/driver.js';
import { driverContract } from '../runtime/driver-contract.js';
import { requires } from '../support/requires.js';
import { clusterUp, leftovers, type SwarmCluster } from '../support/swarm-cluster.js';
import { loadStackImage } from '../support/swarm-images.js';
import { until } from '../support/wait.js';

/**
 * The driver contract (test/runtime/driver-contract.ts) against the swarm
 * driver on a real 3-node Swarm: node1's engine is the manager, where release
 * images are built and pushed to the cluster's registry. One cluster for the
 * whole file; its instances run on whichever node Swarm picks, and the suite
 * reaches them where the router would (the node's address, the task's port).
 */
describe('swarm driver: the driver contract on a 3-node Swarm', function () {
  requires('swarm');
  this.timeout(300_000);
  let cluster: SwarmCluster;
  /** Each node's own engine by its Swarm node ID: where the driver asks a task's container how it ended. */
  const engines = new Map<string, Docker>();
  const engineOf = (socketPath: string) => new Docker({ socketPath });

  before(async function () {
    this.timeout(300_000);
    cluster = await clusterUp({ nodes: 3 });
    const [first, ...rest] = cluster.nodes;
    await loadStackImage(first!);
    const manager = engineOf(first!.socket);
    await manager.swarmInit({ ListenAddr: `${first!.address}:2377`, AdvertiseAddr: first!.address });
    const token = ((await manager.swarmInspect()) as { JoinTokens: { Worker: string } }).JoinTokens.Worker;
    for (const n of rest)
      await engineOf(n.socket).swarmJoin({
        ListenAddr: `${n.address}:2377`,
        AdvertiseAddr: n.address,
        RemoteAddrs: [`${first!.address}:2377`],
        JoinToken: token,
      });
    for (const n of cluster.nodes) {
      const info = (await engineOf(n.socket).info()) as { Swarm: { NodeID: string } };
      engines.set(info.Swarm.NodeID, engineOf(n.socket));
    }
    await until(
      'the three nodes to be ready',
      async () =>
        ((await manager.listNodes()) as Array<{ Status: { State: string } }>).filter((n) => n.Status.State === 'ready').length === 3,
      60_000,
    );
  });

  after(async function () {
    this.timeout(300_000);
    await cluster?.down();
    expect(leftovers()).to.deep.equal([]);
  });

  driverContract('swarm', {
    needs: ['swarm'],
    removesApps: true,
    movesOnRestart: true,
    create: (home) =>
      SwarmDriver.create({
        docker: engineOf(cluster.nodes[0]!.socket),
        home,
        registry: cluster.registry,
        nodeEngine: (id) => engines.get(id),
        stopGraceMs: 10_000,
      }),
    // The release's image, built and pushed as the driver's first start would, then pulled by every node.
    prepare: async ({ home, app, release, releaseDir, user }) => {
      const ref = await new ReleaseImages().of({
        docker: engineOf(cluster.nodes[0]!.socket),
        registry: cluster.registry,
        app,
        release,
        releaseDir,
        user,
        home: homeId(home),
        log: () => undefined,
      });
      await Promise.all(
        cluster.nodes.slice(1).map(async (n) => {
          const docker = engineOf(n.socket);
          const stream = await docker.pull(ref);
          await new Promise((resolve, reject) => docker.modem.followProgress(stream, (err) => (err ? reject(err) : resolve(undefined))));
        }),
      );
    },
  });
});
