import { expect } from 'chai';
import Docker from 'dockerode';
import fs from 'node:fs';
import path from 'node:path';
import { api } from '../api/http.js';
import { TestServer, appRepo, commitAll, push, setMessage, ssh, sshKey, type Result } from '../e2e/harness.js';
import { underLoad } from '../support/load.js';
import { requires } from '../support/requires.js';
import { clusterUp, leftovers, type ClusterNode, type SwarmCluster } from '../support/swarm-cluster.js';
import { loadStackImage } from '../support/swarm-images.js';
import { until } from '../support/wait.js';

/**
 * The swarm driver on a real 3-node Swarm (test/support/swarm-cluster.ts):
 * node1's engine is the server's own (the manager, where release images are
 * built and pushed to the cluster's registry); node2 and node3 pull them.
 * One cluster for the whole file: each bring-up and each image push costs
 * tens of seconds, so the steps build on each other in order.
 */
describe('swarm driver: apps spread over three hosts', function () {
  requires('swarm');
  this.timeout(300_000);
  let cluster: SwarmCluster;
  let server: TestServer;
  let token: string;
  let key: ReturnType<typeof sshKey>;
  let repo: string;
  let nodes: ClusterNode[];
  const APP = 'spread';
  const manager = () => new Docker({ socketPath: nodes[0]!.socket });
  /** Where the running tasks of a service are: node host names, sorted. */
  const taskNodes = async (service: string): Promise<string[]> => {
    const names = new Map(((await manager().listNodes()) as any[]).map((n) => [n.ID, n.Description.Hostname]));
    const tasks = (await manager().listTasks({ filters: { service: [service], 'desired-state': ['running'] } })) as any[];
    return tasks
      .filter((t) => t.Status.State === 'running')
      .map((t) => names.get(t.NodeID))
      .sort();
  };
  const services = async () => ((await manager().listServices()) as any[]).map((s) => s.Spec.Name).sort();
  /** Bodies the router answers with over `n` requests (the app says its message and its host). */
  const bodies = async (app: string, n = 12): Promise<string[]> => {
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) {
      const r = await server.get(app);
      expect(r.status, r.body).to.equal(200);
      seen.add(r.body);
    }
    return [...seen].sort();
  };
  const deploy = (dir: string, app: string) => push(dir, server.httpRemote(app, token));
  const ok = (r: Result) => expect(r.code, r.stdout + r.stderr).to.equal(0);

  before(async function () {
    this.timeout(300_000);
    cluster = await clusterUp({ nodes: 3 });
    nodes = cluster.nodes;
    await loadStackImage(nodes[0]!);
    server = await TestServer.start({
      env: { DOCKER_HOST: nodes[0]!.engine, SLIPWAY_REGISTRY: cluster.registry, SLIPWAY_HEALTH_TIMEOUT: '60' },
    });
    token = server.cli(['tokens:create']).stdout.trim();
    key = sshKey();
    ok(server.cli(['keys:add', key.pub]));
    ok(server.cli(['swarm:init', '--advertise-addr', nodes[0]!.address]));
    for (const n of nodes.slice(0, 2)) ok(server.cli(['hosts:add', n.name, '--engine', n.engine]));
    // The seed's first step: a host registered through the API.
    const added = await api(server, { method: 'POST', path: '/api/v1/hosts', token, body: { name: 'node3', engine: nodes[2]!.engine } });
    expect(added.status, added.text).to.equal(201);
    // The node example, answering with its host too, so the test sees which task answered.
    repo = appRepo('node-hello');
    const server_js = path.join(repo, 'server.js');
    fs.writeFileSync(
      server_js,
      fs.readFileSync(server_js, 'utf8').replace('res.end(message);', 'res.end(`${message} @${process.env.SLIPWAY_HOST}`);'),
    );
    setMessage(repo, 'one');
  });

  after(async function () {
    this.timeout(300_000);
    const t0 = Date.now();
    await server?.stop();
    const t1 = Date.now();
    await cluster?.down();
    console.log(`      (server stopped in ${Math.round((t1 - t0) / 1000)} s, cluster down in ${Math.round((Date.now() - t1) / 1000)} s)`);
    expect(leftovers()).to.deep.equal([]);
  });

  it('refuses a swarm app on a server without a registry, in one line', async () => {
    const bare = await TestServer.start({ env: { DOCKER_HOST: nodes[0]!.engine } });
    try {
      ok(bare.cli(['apps:create', 'noreg']));
      ok(bare.cli(['apps:set', 'noreg', 'driver=swarm']));
      const r = await push(repo, bare.httpRemote('noreg', bare.cli(['tokens:create']).stdout.trim()));
      const failed = (r.stdout + r.stderr).split('\n').filter((l) => /failed at activate/.test(l));
      expect(failed, r.stderr).to.have.length(1);
      expect(failed[0]).to.match(/noreg runs on the swarm driver, but this server has no registry for its images/);
      expect(failed[0]).to.include('--registry HOST:PORT');
    } finally {
      await bare.stop();
    }
  });

  it('a push with driver=swarm and web=3 serves from a task on each of the three hosts', async () => {
    ok(server.cli(['apps:create', APP]));
    ok(server.cli(['apps:set', APP, 'driver=swarm']));
    const first = await deploy(repo, APP);
    expect(first.code, first.stderr).to.equal(0);
    expect(first.stderr).to.match(/Started web\.1 on node\d, on port \d+/);
    ok(server.cli(['ps:scale', APP, 'web=3']));
    expect(await taskNodes(`${APP}-v1-web`)).to.deep.equal(['node1', 'node2', 'node3']);
    const ps = server.cli(['ps', APP]);
    for (const n of ['node1', 'node2', 'node3']) expect(ps.stdout).to.match(new RegExp(`^web\\.\\d\\s+up\\s+v1\\s+${n}\\s+\\d+`, 'm'));
    // The router reaches every task: each host answers in turn.
    expect(await bodies(APP)).to.deep.equal(['one @node1', 'one @node2', 'one @node3']);
    // The app's output comes back from the hosts into its log.
    await until('the tasks output in the log', () => /web\.\d: listening on port 5000/.test(server.cli(['logs', APP]).stdout), 20_000);
    // enter APP web.2 runs in that task's container, on its host, through that host's engine.
    const where = server.cli(['ps', APP]).stdout.match(/^web\.2\s+up\s+v1\s+(node\d)/m)![1];
    const enter = ssh(key.key, server.ports.ssh, ['enter', APP, 'web.2'], 'echo in-$DYNO-$SLIPWAY_HOST-$(id -u)\n');
    expect(enter.stdout).to.include(`in-web.2-${where}-`);
    expect(enter.stdout).to.not.match(/in-web\.2-node\d-0\b/);
  });

  it('GET /api/v1/hosts lists the hosts with their instances; containers say their host', async () => {
    const hosts = await api(server, { path: '/api/v1/hosts', token });
    expect(hosts.status, hosts.text).to.equal(200);
    const listed = hosts.json.hosts ?? hosts.json;
    for (const n of ['node1', 'node2', 'node3']) {
      const h = (listed as any[]).find((x) => x.name === n);
      expect(h, n).to.exist;
      expect(h.tasks.map((i: any) => i.name).join(' ')).to.match(new RegExp(`${APP}-v1-web\\.\\d`));
    }
    const containers = await api(server, { path: `/api/v1/containers?app=${APP}`, token });
    expect(containers.status).to.equal(200);
    expect((containers.json as any[]).map((c) => c.host).sort()).to.deep.equal(['node1', 'node2', 'node3']);
    // The seed's flow: a container created (a one-off), listed, deleted.
    const created = await api(server, { method: 'POST', path: '/api/v1/containers', token, body: { app: APP, command: ['sleep', '60'] } });
    expect(created.status, created.text).to.equal(202);
    const job = created.headers.location!;
    const done = await until(
      'the one-off to start',
      async () => {
        const r = await api(server, { path: job, token });
        return r.status === 303 ? r.headers.location : undefined;
      },
      60_000,
    );
    const one = await api(server, { path: done!, token });
    expect(one.json.kind).to.equal('one-off');
    expect((await api(server, { method: 'DELETE', path: done!, token })).status).to.equal(204);
  });

  it('a redeploy under load fails no request, and serves the new body from all three hosts', async () => {
    setMessage(repo, 'two');
    let r: Result | undefined;
    const load = await underLoad(server.ports.router, `${APP}.localhost`, async () => {
      r = await deploy(repo, APP);
    });
    expect(r!.code, r!.stderr).to.equal(0);
    expect(load.during).to.be.greaterThan(100);
    expect(load.failures).to.equal(0);
    expect(await bodies(APP)).to.deep.equal(['two @node1', 'two @node2', 'two @node3']);
    expect(await services()).to.deep.equal([`${APP}-v2-web`]);
  });

  it('a release that fails its health check fails the push in one line; the old body is still served', async () => {
    fs.writeFileSync(
      path.join(repo, 'app.json'),
      JSON.stringify({ healthchecks: { web: [{ name: 'ready', path: '/', content: 'never-there', attempts: 2, wait: 0.2, timeout: 2 }] } }),
    );
    setMessage(repo, 'three');
    let r: Result | undefined;
    const load = await underLoad(server.ports.router, `${APP}.localhost`, async () => {
      r = await deploy(repo, APP);
    });
    const failed = r!.stderr.split('\n').filter((l) => /failed at activate/.test(l));
    expect(failed, r!.stderr).to.have.length(1);
    expect(failed[0]).to.match(/health check "ready" failed for web\.\d: GET \/ answered 200 without "never-there".*v2 is still serving/);
    expect(load.failures).to.equal(0);
    expect(await bodies(APP)).to.deep.equal(['two @node1', 'two @node2', 'two @node3']);
    expect(await services()).to.deep.equal([`${APP}-v2-web`]);
    fs.rmSync(path.join(repo, 'app.json'));
    commitAll(repo, 'no checks');
  });

  it('rollback serves the old body from the image of that archive, without a build', async () => {
    const r = await server.cliAsync(['rollback', APP, 'v1']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.not.match(/-----> Build/);
    // The daemon made no image: it tagged v1's for the new release.
    await until(
      'the daemon to say which image v4 runs',
      () => new RegExp(`${APP} v4: (Reusing|Building) image`).test(server.output),
      10_000,
    );
    const images = server.output.split('\n').filter((l) => /: (Reusing|Building) image/.test(l));
    expect(images.join('\n'), images.join('\n')).to.match(
      new RegExp(`${APP} v4: Reusing image \\S+/slipway/${APP}:v1 \\(the same release archive\\)`),
    );
    expect(images.join('\n')).to.not.match(new RegExp(`${APP} v4: Building image`));
    expect(await bodies(APP)).to.deep.equal(['one @node1', 'one @node2', 'one @node3']);
  });

  it('hosts:label node3 env=prod: a prod app lands only on node3', async () => {
    ok(server.cli(['hosts:label', 'node3', 'env=prod']));
    ok(server.cli(['apps:create', 'shop', '--env', 'prod', '--mode', 'cooking']));
    ok(server.cli(['apps:set', 'shop', 'driver=swarm']));
    const r = await deploy(repo, 'shop');
    expect(r.code, r.stderr).to.equal(0);
    ok(server.cli(['ps:scale', 'shop', 'web=2']));
    const [, version] = server.cli(['ps', 'shop']).stdout.match(/^web\.1\s+up\s+v(\d+)/m)!;
    expect(await taskNodes(`shop-v${version}-web`)).to.deep.equal(['node3', 'node3']);
    expect(await bodies('shop', 4)).to.deep.equal(['three @node3']);
  });

  it('hosts:drain node2 moves its task with no failed request; the router follows', async () => {
    const before = await taskNodes(`${APP}-v4-web`);
    expect(before).to.include('node2');
    const load = await underLoad(server.ports.router, `${APP}.localhost`, async () => {
      ok(await server.cliAsync(['hosts:drain', 'node2']));
      await until(
        'the task to run elsewhere and be routed',
        async () => !/node2/.test((await bodies(APP, 6)).join()) && (await taskNodes(`${APP}-v4-web`)).length === 3,
        60_000,
      );
    });
    expect(load.failures).to.equal(0);
    expect(await taskNodes(`${APP}-v4-web`)).to.not.include('node2');
    ok(server.cli(['hosts:activate', 'node2']));
  });

  it('a host whose dockerd dies: its tasks are started elsewhere and the router stops sending there', async () => {
    const node3 = nodes[2]!;
    const on3 = (await taskNodes(`${APP}-v4-web`)).filter((n) => n === 'node3').length;
    expect(on3).to.be.greaterThan(0);
    cluster.kill(node3);
    await until(
      'the Swarm to run every task of the app on the other hosts',
      async () => {
        const now = await taskNodes(`${APP}-v4-web`);
        return now.length === 3 && !now.includes('node3');
      },
      120_000,
    );
    await until('the router to answer only from the other hosts', async () => !/node3/.test((await bodies(APP, 9)).join()), 30_000);
    expect(await bodies(APP, 9)).to.satisfy((b: string[]) => b.every((x) => /^one @node[12]$/.test(x)));
  });
});
