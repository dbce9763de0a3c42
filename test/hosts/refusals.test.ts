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
import { SecretBox } from '../../src/secrets/box.js';
import { Store } from '../../src/store/index.js';

/**
 * The refusals no machine here can produce for real: an engine of another
 * architecture (every dockerd here is this machine's). Two stand-ins answer
 * the only calls made before a join — ping and info — and record every
 * request, so the test sees that nothing was joined. The real-engine
 * refusals (unreachable, another Swarm, a taken name) are in hosts.test.ts.
 */
function standIn(architecture: string): { socket: string; requests: string[]; close: () => void } {
  const socket = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-engine-')), 'docker.sock');
  const requests: string[] = [];
  const id = crypto.randomBytes(8).toString('hex');
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const url = (req.url ?? '').replace(/^\/v[\d.]+/, '');
    if (url === '/_ping') return void res.end('OK');
    if (url === '/info') {
      res.setHeader('content-type', 'application/json');
      return void res.end(
        JSON.stringify({
          ID: id,
          Architecture: architecture,
          Swarm: { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false },
        }),
      );
    }
    res.statusCode = 500;
    res.end('{"message":"not expected"}');
  });
  server.listen(socket);
  return { socket, requests, close: () => server.close() };
}

describe('hosts: refusals before anything is joined', () => {
  it('refuses an engine of another architecture in one line; neither engine is asked to join or start a Swarm', async () => {
    const ours = standIn('x86_64');
    const theirs = standIn('aarch64');
    const store = Store.open(':memory:');
    try {
      const deps: HostDeps = {
        store,
        secrets: new SecretBox(crypto.randomBytes(32)),
        manager: { docker: new Docker({ socketPath: ours.socket }), address: `unix://${ours.socket}` },
      };
      const err = await addHost(deps, { name: 'arm', engine: `unix://${theirs.socket}` }).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(SlipwayError);
      expect((err as SlipwayError).code).to.equal('host_architecture');
      expect((err as SlipwayError).message).to.equal(
        `the engine at unix://${theirs.socket} runs on aarch64, the server's on x86_64: release images would not run there`,
      );
      expect((err as SlipwayError).message).to.not.include('\n');
      expect([...ours.requests, ...theirs.requests].filter((r) => !/\/(_ping|info)$/.test(r))).to.deep.equal([]);
      expect(store.hosts.list()).to.deep.equal([]);
    } finally {
      ours.close();
      theirs.close();
      store.close();
    }
  });

  it('refuses engine addresses and credentials that do not fit together', () => {
    const refusal = (address: string, credentials?: { ca?: string; cert?: string; key?: string }) => {
      try {
        engineClient({ address, credentials });
        return 'accepted';
      } catch (err) {
        return (err as Error).message;
      }
    };
    expect(refusal('unix://relative.sock')).to.match(/names no absolute socket path/);
    expect(refusal('tcp://10.0.0.2:2376', { ca: 'x' })).to.match(/needs all three of --ca, --cert and --key/);
    expect(refusal('ssh://10.0.0.3')).to.match(/needs a user and a host/);
    expect(refusal('ssh://root@10.0.0.3', { ca: 'x' })).to.match(/takes only --key/);
    expect(refusal('http://10.0.0.2')).to.match(/is not one Slipway knows/);
    expect(refusal('tcp://10.0.0.2:2376', { ca: 'a', cert: 'b', key: 'c' })).to.equal('accepted');
  });

  it('reads labels as KEY=VALUE to set and KEY- to remove, and keeps slipway.* for itself', () => {
    expect(parseLabels(['env=prod', 'tier-', 'empty='])).to.deep.equal({ env: 'prod', tier: null, empty: '' });
    expect(() => parseLabels(['no spaces=x'])).to.throw(/invalid label/);
    expect(() => parseLabels(['slipway.host=x'])).to.throw(/Slipway's own/);
  });
});
