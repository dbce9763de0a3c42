import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import Docker from 'dockerode';
import { SlipwayError } from '../../src/errors.js';
import { engineClient } from '../../src/hosts/engines.js';
import { addHost, parseLabels, type HostDeps } from '../../src/hosts/membership.js';
import { managerState } from '../../src/hosts/swarm.js';
import { SecretBox } from '../../src/secrets/box.js';
import { Store } from '../../src/store/index.js';

/**
 * An admin's bad input to hosts:add and an engine that misbehaves after a
 * good ping: one line each, nothing recorded, and never a call left hanging
 * or a rejection nobody catches (the daemon asks managerState at start
 * without waiting for it).
 */
function engine(onInfo: (res: http.ServerResponse) => void): { socket: string; address: string; close: () => void } {
  const socket = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-engine-')), 'docker.sock');
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '').replace(/^\/v[\d.]+/, '');
    if (url === '/_ping') return void res.end('OK');
    if (url === '/info') return onInfo(res);
    res.statusCode = 500;
    res.end('{"message":"not expected"}');
  });
  server.listen(socket);
  return {
    socket,
    address: `unix://${socket}`,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

const info = (res: http.ServerResponse) => {
  res.setHeader('content-type', 'application/json');
  res.end(
    JSON.stringify({
      ID: 'ours',
      Architecture: 'x86_64',
      Swarm: { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false },
    }),
  );
};

/** A known_hosts file trusting KEY for the given `[host]:port` or host names. */
function knownHosts(lines: string[]): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-known-')), 'known_hosts');
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}
const SOME_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHh5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5';
const TEST_KNOWN = knownHosts([`[10.0.0.3]:2222 ${SOME_KEY}`, `node3.example ${SOME_KEY}`]);

const refusal = (address: string, credentials?: { key?: string }) => {
  try {
    engineClient({ address, credentials }, { knownHosts: [TEST_KNOWN] });
    return 'accepted';
  } catch (err) {
    return (err as Error).message;
  }
};

/**
 * A manager of an active Swarm (cluster C, node n1) or an engine that is a
 * worker of it (node n2): what addHost asks of an engine that joins no one.
 */
function swarmEngine(id: string, nodeId: string, manager: boolean) {
  const updates: string[] = [];
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '').replace(/^\/v[\d.]+/, '');
    res.setHeader('content-type', 'application/json');
    if (url === '/_ping') return void res.end('OK');
    if (url === '/info')
      return void res.end(
        JSON.stringify({
          ID: id,
          Architecture: 'x86_64',
          Swarm: { NodeID: nodeId, NodeAddr: '10.0.0.1', LocalNodeState: 'active', ControlAvailable: manager, Cluster: { ID: 'C' } },
        }),
      );
    const node = /^\/nodes\/(\w+)(\/update)?/.exec(url.split('?')[0]!);
    if (node && !node[2]) return void res.end(JSON.stringify({ ID: node[1], Version: { Index: 1 }, Spec: { Labels: {} } }));
    if (node && node[2]) {
      let body = '';
      req.on('data', (c: Buffer) => (body += c));
      req.on('end', () => {
        updates.push(`${node[1]} ${body}`);
        res.end('{}');
      });
      return;
    }
    res.statusCode = 500;
    res.end('{"message":"not expected"}');
  });
  const socket = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-engine-')), 'docker.sock');
  server.listen(socket);
  return { socket, address: `unix://${socket}`, updates, close: () => (server.closeAllConnections(), server.close()) };
}

describe('hosts: engine addresses and engines that misbehave', () => {
  it('refuses an address with a newline, space or control character, whose record would print more than one line', () => {
    for (const address of [
      'tcp://10.0.0.2:2376\n-----> Added host evil',
      'tcp://10.0.\t0.2',
      'unix:///run/x y.sock',
      'ssh://root@10.0.0.3\u0000',
    ]) {
      const message = refusal(address);
      expect(message, JSON.stringify(address)).to.match(/holds spaces or control characters/);
      expect(message).to.not.include('\n');
    }
  });

  it('refuses an address longer than 500 characters, naming only its start', () => {
    const message = refusal(`tcp://${'a'.repeat(600)}.example:2376`);
    expect(message).to.match(/is longer than 500 characters/);
    expect(message.length).to.be.below(300);
  });

  it('refuses a password in the address (it would be stored and shown in clear), a user on tcp:// and an SSH user that reads as an option', () => {
    expect(refusal('ssh://root:hunter2@10.0.0.3')).to.match(/holds a password/);
    expect(refusal('tcp://admin:hunter2@10.0.0.2:2375')).to.match(/has a user or password/);
    expect(refusal('ssh://-oProxyCommand=touch%20%2Ftmp%2Fx@10.0.0.3')).to.match(/names an invalid user/);
    expect(refusal('ssh://-oProxyCommand=x@10.0.0.3')).to.match(/names an invalid user/);
    expect(refusal('ssh://deploy@10.0.0.3:2222', { key: 'k' })).to.equal('accepted');
    expect(refusal('ssh://root@node3.example')).to.equal('accepted');
  });

  it('refuses, in one line, an engine that answers the ping and then never answers info; nothing is recorded', async () => {
    const ours = engine(info);
    const held: http.ServerResponse[] = [];
    const theirs = engine((res) => void held.push(res));
    const store = Store.open(':memory:');
    try {
      const deps: HostDeps = {
        store,
        secrets: new SecretBox(crypto.randomBytes(32)),
        manager: { docker: new Docker({ socketPath: ours.socket }), address: ours.address },
      };
      const err = await addHost(deps, { name: 'slow', engine: theirs.address }).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(SlipwayError);
      expect((err as SlipwayError).code).to.equal('host_unreachable');
      expect((err as SlipwayError).message).to.equal(`the Docker engine at ${theirs.address} does not answer (no answer within 5 s)`);
      expect(held).to.have.length(1);
      expect(store.hosts.list()).to.deep.equal([]);
    } finally {
      ours.close();
      theirs.close();
      store.close();
    }
  });

  it("says the Swarm has no manager, rather than rejecting, when the server's engine pings but fails info", async () => {
    const broken = engine((res) => {
      res.statusCode = 500;
      res.setHeader('content-type', 'application/json');
      res.end('{"message":"engine is shutting down"}');
    });
    try {
      const state = await managerState({ docker: new Docker({ socketPath: broken.socket }), address: broken.address });
      expect(state.ok).to.equal(false);
      expect(state.ok ? '' : state.why).to.include(
        `the Swarm has no manager: the Docker engine at ${broken.address} does not answer (engine is shutting down)`,
      );
    } finally {
      broken.close();
    }
  });

  it('adds two hosts of the same name asked at once as one host and one refusal, the added one kept', async () => {
    const ours = swarmEngine('ours', 'n1', true);
    const worker = swarmEngine('theirs', 'n2', false);
    const store = Store.open(':memory:');
    try {
      const deps: HostDeps = {
        store,
        secrets: new SecretBox(crypto.randomBytes(32)),
        manager: { docker: new Docker({ socketPath: ours.socket }), address: ours.address },
      };
      const results = await Promise.allSettled([
        addHost(deps, { name: 'node1', engine: ours.address }),
        addHost(deps, { name: 'node1', engine: worker.address }),
      ]);
      const added = results.filter((r) => r.status === 'fulfilled');
      const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as SlipwayError);
      expect(added).to.have.length(1);
      expect(refused.map((e) => [e.code, e.message])).to.deep.equal([['host_exists', 'a host named node1 exists already']]);
      expect(store.hosts.list().map((h) => [h.name, h.engine])).to.deep.equal([['node1', ours.address]]);
    } finally {
      ours.close();
      worker.close();
      store.close();
    }
  });

  it('refuses label values with control characters, which `hosts` would print to every admin', () => {
    for (const label of ['env=a\rb', 'env=\u001b[2J\u001b[31mred', 'env=a\u007f'])
      expect(() => parseLabels([label]), JSON.stringify(label)).to.throw(/invalid label/);
    expect(parseLabels(['env=prod eu-west'])).to.deep.equal({ env: 'prod eu-west' });
  });
});
