import { expect } from 'chai';
import Docker from 'dockerode';
import fs from 'node:fs';
import { api } from '../api/http.js';
import { query } from '../e2e/db.js';
import { TestServer, ssh, sshKey, type Result } from '../e2e/harness.js';
import { requires } from '../support/requires.js';
import { clusterUp, leftovers, type ClusterNode, type SwarmCluster } from '../support/swarm-cluster.js';
import { pushTinyImage } from '../support/swarm-images.js';
import { until } from '../support/wait.js';

/**
 * Hosts on a real 3-node Swarm (test/support/swarm-cluster.ts): node1's engine
 * is the server's own (DOCKER_HOST), so it becomes the manager; node2 and
 * node3 join it. One cluster for the file, brought up once and torn down after.
 */
describe('hosts: a Swarm of three dockerds', function () {
  requires('swarm');
  this.timeout(120_000);
  let cluster: SwarmCluster;
  let server: TestServer;
  let adminToken: string;
  let memberToken: string;
  let memberKey: ReturnType<typeof sshKey>;
  let nodes: ClusterNode[];
  const engine = (n: ClusterNode) => new Docker({ socketPath: n.socket });
  const manager = () => engine(nodes[0]!);
  const nodeOf = async (name: string) => ((await manager().listNodes()) as any[]).find((n) => n.Description.Hostname === name);
  /** A command through the remote CLI (`POST /api/v1/cli`), as the admin: the program the host CLI runs, without a process per call. */
  const cli = async (argv: string[]): Promise<Result> => {
    const r = await api(server, { method: 'POST', path: '/api/v1/cli', token: adminToken, body: { argv } });
    const lines = r.text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { out?: string; err?: string; exit?: number });
    return {
      code: lines.find((l) => l.exit !== undefined)?.exit ?? -1,
      stdout: lines.map((l) => l.out ?? '').join(''),
      stderr: lines.map((l) => l.err ?? '').join(''),
    };
  };
  /** A refusal is one line on stderr and a non-zero exit. */
  const refused = (r: Result, text: RegExp) => {
    expect(r.code, r.stdout + r.stderr).to.equal(1);
    expect(r.stderr.trim().split('\n'), r.stderr).to.have.length(1);
    expect(r.stderr).to.match(text);
  };

  before(async function () {
    this.timeout(180_000);
    cluster = await clusterUp({ nodes: 3, tls: true });
    nodes = cluster.nodes;
    server = await TestServer.start({ env: { DOCKER_HOST: nodes[0]!.engine } });
    adminToken = server.cli(['tokens:create']).stdout.trim();
    expect(server.cli(['users:add', 'member']).code).to.equal(0);
    memberKey = sshKey();
    expect(server.cli(['keys:add', '--user', 'member', memberKey.pub]).code).to.equal(0);
    memberToken = server.cli(['tokens:create', '--user', 'member']).stdout.trim();
  });

  after(async function () {
    this.timeout(120_000);
    await server?.stop();
    await cluster?.down();
    expect(leftovers()).to.deep.equal([]);
  });

  it("swarm:init makes the server's engine the manager; hosts:add joins the three nodes", async () => {
    const init = server.cli(['swarm:init', '--advertise-addr', nodes[0]!.address]);
    expect(init.code, init.stderr).to.equal(0);
    expect(init.stdout).to.include(`joined at ${nodes[0]!.address}:2377`);
    // node1 and node2 by their unix sockets; node3 over TCP with TLS client certificates, as a real second machine.
    const { ca, cert, key } = cluster.tls!;
    const engines = [nodes[0]!.engine, nodes[1]!.engine, nodes[2]!.tlsEngine!];
    for (const [i, n] of nodes.entries()) {
      const tls = i === 2 ? ['--ca', ca, '--cert', cert, '--key', key] : [];
      const add = server.cli(['hosts:add', n.name, '--engine', engines[i]!, ...tls]);
      expect(add.code, add.stderr).to.equal(0);
      expect(add.stdout).to.include(`Added host ${n.name} (${engines[i]})`);
    }
    // The client key is sealed in SQLite, never there as written.
    const [row] = query(server.home, 'SELECT credentials FROM hosts WHERE name = ?', 'node3');
    const pem = fs.readFileSync(key, 'utf8');
    expect(row.credentials).to.be.a('string').and.not.include('PRIVATE KEY');
    expect(row.credentials).to.not.include(pem.split('\n')[1]);
    expect(query(server.home, 'SELECT credentials FROM hosts WHERE name = ?', 'node1')[0].credentials).to.equal(null);
    // The manager's own view: three ready nodes, one cluster, each at its own address.
    const listed = (await manager().listNodes()) as any[];
    expect(listed.map((n) => [n.Description.Hostname, n.Status.State, n.Status.Addr]).sort()).to.deep.equal(
      nodes.map((n) => [n.name, 'ready', n.address]),
    );
    // Each engine says it is in a Swarm, as one of the manager's nodes.
    const ids = await Promise.all(nodes.map(async (n) => ((await engine(n).info()) as any).Swarm));
    expect(ids.map((s) => s.LocalNodeState)).to.deep.equal(['active', 'active', 'active']);
    expect(ids.map((s) => s.NodeID).sort()).to.deep.equal(listed.map((n) => n.ID).sort());

    const hosts = await cli(['hosts']);
    expect(hosts.code, hosts.stderr).to.equal(0);
    for (const [i, n] of nodes.entries())
      expect(hosts.stdout).to.match(
        new RegExp(`^${n.name}\\s+${n.address.replace(/\./g, '\\.')}\\s+ready\\s+active\\s+${i ? 'worker' : 'manager'}\\s+20\\.`, 'm'),
      );
  });

  it('refuses a taken name and an engine that does not answer, one line each, joining nothing', async () => {
    refused(await cli(['hosts:add', 'node2', '--engine', nodes[2]!.engine]), /a host named node2 exists already/);
    const ghost = `tcp://${cluster.bridgeAddress}:9`;
    refused(
      await cli(['hosts:add', 'ghost', '--engine', ghost]),
      new RegExp(`the Docker engine at ${ghost} does not answer \\(connection refused\\)`),
    );
    refused(await cli(['hosts:add', 'ghost', '--engine', 'ftp://x']), /the engine address "ftp:\/\/x" is not one Slipway knows/);
    expect((await cli(['hosts'])).stdout).to.not.include('ghost');
    expect((await manager().listNodes()).length).to.equal(3);
  });

  it('labels become Swarm node labels; drain moves the instances off a node', async () => {
    const label = await cli(['hosts:label', 'node3', 'env=prod', 'tier=web']);
    expect(label.code, label.stderr).to.equal(0);
    expect((await nodeOf('node3')).Spec.Labels).to.include({ env: 'prod', tier: 'web', 'slipway.host': 'node3' });
    expect((await cli(['hosts:label', 'node3', 'tier-'])).code).to.equal(0);
    expect((await nodeOf('node3')).Spec.Labels).to.not.have.property('tier');
    expect((await cli(['hosts:info', 'node3'])).stdout).to.match(/^Labels:\s+env=prod$/m);

    // Instances to see and to move: a service of three tasks, one per node.
    const image = await pushTinyImage(cluster);
    await manager().createService({
      Name: 'probe',
      TaskTemplate: { ContainerSpec: { Image: image, Command: ['/usr/bin/sleep', '600'] } },
      Mode: { Replicated: { Replicas: 3 } },
    });
    const running = async (node: string) => {
      const id = (await nodeOf(node)).ID;
      return ((await manager().listTasks({ filters: JSON.stringify({ node: [id], 'desired-state': ['running'] }) })) as any[]).filter(
        (t) => t.Status.State === 'running',
      ).length;
    };
    await until(
      'one probe task running on each node',
      async () => (await Promise.all(nodes.map((n) => running(n.name)))).every((c) => c === 1),
      60_000,
    );
    expect((await cli(['hosts:info', 'node2'])).stdout).to.match(/^Instances:\s+probe\.\d \(running\)$/m);

    const drain = await cli(['hosts:drain', 'node2']);
    expect(drain.code, drain.stderr).to.equal(0);
    expect((await nodeOf('node2')).Spec.Availability).to.equal('drain');
    await until(
      'node2 drained',
      async () => (await running('node2')) === 0 && (await running('node1')) + (await running('node3')) === 3,
      60_000,
    );
    const info = (await cli(['hosts:info', 'node2'])).stdout;
    expect(info).to.match(/^Availability:\s+drain$/m);
    expect(info).to.match(/^Instances:\s+\(none\)$/m);
    expect((await cli(['hosts:activate', 'node2'])).code).to.equal(0);
    expect((await nodeOf('node2')).Spec.Availability).to.equal('active');
    await manager().getService('probe').remove();
  });

  it('the API lists the hosts to an admin and refuses an engine that does not answer', async () => {
    const list = await api(server, { path: '/api/v1/hosts', token: adminToken });
    expect(list.status, list.text).to.equal(200);
    expect(list.json.map((h: any) => h.id)).to.deep.equal(['local', 'node1', 'node2', 'node3']);
    const node3 = list.json[3];
    expect(node3).to.include({
      address: nodes[2]!.address,
      state: 'ready',
      availability: 'active',
      role: 'worker',
      url: '/api/v1/hosts/node3',
    });
    expect(node3.labels).to.deep.equal({ env: 'prod' });
    expect(node3.slots).to.be.above(0);
    expect((await api(server, { path: '/api/v1/hosts/node2', token: adminToken })).json.name).to.equal('node2');

    const ghost = `tcp://${cluster.bridgeAddress}:9`;
    const add = await api(server, { method: 'POST', path: '/api/v1/hosts', token: adminToken, body: { name: 'ghost', engine: ghost } });
    expect(add.status, add.text).to.equal(422);
    expect(add.json.error).to.equal('host_unreachable');
    expect(add.json.message).to.equal(`the Docker engine at ${ghost} does not answer (connection refused)`);
    expect((await api(server, { path: '/api/v1/hosts', token: adminToken })).json).to.have.length(4);
  });

  it('only an admin may see, add, label or remove hosts', async () => {
    const add = await api(server, {
      method: 'POST',
      path: '/api/v1/hosts',
      token: memberToken,
      body: { name: 'x', engine: nodes[2]!.engine },
    });
    expect(add.status, add.text).to.equal(403);
    expect((await api(server, { method: 'DELETE', path: '/api/v1/hosts/node3', token: memberToken })).status).to.equal(403);
    expect((await api(server, { path: '/api/v1/hosts/node3', token: memberToken })).status).to.equal(404);
    expect((await api(server, { path: '/api/v1/hosts', token: memberToken })).json.map((h: any) => h.id)).to.deep.equal(['local']);
    for (const argv of [['hosts'], ['hosts:label', 'node3', 'env=dev'], ['hosts:drain', 'node3'], ['hosts:remove', 'node3']]) {
      const r = ssh(memberKey.key, server.ports.ssh, argv);
      expect(r.code, argv.join(' ')).to.not.equal(0);
      expect(r.stderr).to.match(/only an admin may/);
    }
    expect((await nodeOf('node3')).Spec).to.include({ Availability: 'active' });
    expect((await nodeOf('node3')).Spec.Labels.env).to.equal('prod');
  });

  it('hosts:remove drains, leaves the Swarm (node3 through its sealed TLS credentials) and forgets; another Swarm is refused untouched', async () => {
    refused(await cli(['hosts:remove', 'node1']), /node1 is the server's own engine, which manages the Swarm/);
    const remove = await cli(['hosts:remove', 'node3']);
    expect(remove.code, remove.stderr).to.equal(0);
    expect(((await engine(nodes[2]!).info()) as any).Swarm.LocalNodeState).to.equal('inactive');
    expect(await nodeOf('node3')).to.equal(undefined);
    expect((await cli(['hosts'])).stdout).to.not.match(/^node3/m);

    // node3 starts a Swarm of its own: adding it is refused, and it stays where it was.
    await engine(nodes[2]!).swarmInit({ ListenAddr: '0.0.0.0:2377', AdvertiseAddr: nodes[2]!.address });
    const own = ((await engine(nodes[2]!).info()) as any).Swarm.Cluster.ID;
    refused(
      await cli(['hosts:add', 'node3', '--engine', nodes[2]!.engine]),
      new RegExp(`is already part of another Swarm \\(cluster ${own}\\)`),
    );
    expect(((await engine(nodes[2]!).info()) as any).Swarm.Cluster.ID).to.equal(own);
    expect((await manager().listNodes()).length).to.equal(2);
  });

  it('a Swarm that lost its manager: hosts says so, and so does the daemon at start', async () => {
    cluster.kill(nodes[0]!);
    const lost = `the Swarm has no manager: the Docker engine at ${nodes[0]!.engine} does not answer`;
    const hosts = await cli(['hosts']);
    expect(hosts.code, hosts.stderr).to.equal(0);
    expect(hosts.stdout).to.include(lost);
    expect(hosts.stdout).to.match(/^node2\s+-\s+unknown/m);
    await server.stop();
    await server.boot();
    await until('the daemon to report the lost manager', () => server.output.includes(` !     hosts: ${lost}`), 20_000);
  });
});
