// A Swarm test cluster for humans (the tests use test/support/swarm-cluster.ts directly):
//   node --import tsx scripts/swarm-cluster.mjs up [NODES]   # N dockerds in namespaces + a registry; prints their engines
//   node --import tsx scripts/swarm-cluster.mjs down         # removes everything, also what a crashed run left
//   node --import tsx scripts/swarm-cluster.mjs status       # what of it is on this machine
// As root. Nothing is joined into a Swarm: that is `slipway swarm:init` and `hosts:add`.
import { clusterUp, leftovers, sweep } from '../test/support/swarm-cluster.ts';

const [cmd, arg] = process.argv.slice(2);
if (cmd === 'up') {
  const cluster = await clusterUp({ nodes: arg ? Number(arg) : 3 });
  for (const n of cluster.nodes) console.log(`${n.name}\t${n.address}\t${n.engine}`);
  console.log(`registry\t${cluster.registry}`);
  console.log(`\nDOCKER_HOST=${cluster.nodes[0].engine} docker info   # talk to node1; \`down\` removes it all`);
} else if (cmd === 'down') {
  await sweep();
  console.log('nothing of the test cluster is left');
} else if (cmd === 'status') {
  const left = leftovers();
  console.log(left.length ? left.join('\n') : 'no test cluster on this machine');
} else {
  console.error('usage: node --import tsx scripts/swarm-cluster.mjs up [NODES] | down | status');
  process.exitCode = 2;
}
