import crypto from 'node:crypto';
import fs from 'node:fs';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import ssh2 from 'ssh2';
import { SlipwayError } from '../../src/errors.js';
import { engineClient, requireAnswer } from '../../src/hosts/engines.js';

/**
 * An ssh:// engine is given the Swarm's join token and our key signs in to
 * it, so its host key is checked against known_hosts as `ssh` does: an
 * impostor (here an SSH server with a key nobody listed) sees no sign-in and
 * no Docker request. A stand-in SSH server answers `docker system
 * dial-stdio` with a Docker ping, so the good case is end to end.
 */
describe('hosts: ssh:// engines and their host keys', function () {
  this.timeout(30_000);
  const hostKey = ssh2.utils.generateKeyPairSync('ed25519');
  const otherKey = ssh2.utils.generateKeyPairSync('ed25519');
  const clientKey = ssh2.utils.generateKeyPairSync('ed25519');
  const seen = { connections: 0, signIns: 0, requests: [] as string[] };
  let server: ssh2.Server;
  let port: number;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-ssh-engine-'));
  const known = (line: string) => {
    const file = path.join(dir, `known_hosts.${crypto.randomBytes(4).toString('hex')}`);
    fs.writeFileSync(file, `${line}\n`);
    return [file];
  };
  const address = () => `ssh://deploy@127.0.0.1:${port}`;

  before(async () => {
    server = new ssh2.Server({ hostKeys: [hostKey.private] }, (client) => {
      seen.connections++;
      client.on('authentication', (ctx) => {
        seen.signIns++;
        if (ctx.method === 'publickey' && ctx.username === 'deploy') return ctx.accept();
        ctx.reject(['publickey']);
      });
      client.on('error', () => undefined);
      client.on('session', (accept) => {
        accept().on('exec', (acceptExec, _reject, info) => {
          const stream = acceptExec();
          if (info.command !== 'docker system dial-stdio') return (void stream.exit(127), stream.end());
          stream.on('data', (chunk: Buffer) => {
            seen.requests.push(chunk.toString().split('\r\n')[0]!);
            stream.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nOK');
          });
        });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
  });

  after(() => {
    server?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuses an engine whose host key known_hosts does not list, before connecting, in one line saying what to run', () => {
    const before = seen.connections;
    const files = known(`otherhost ${otherKey.public}`);
    const err = (() => {
      try {
        engineClient({ address: address(), credentials: { key: clientKey.private } }, { knownHosts: files });
      } catch (e) {
        return e as SlipwayError;
      }
    })();
    expect(err?.code).to.equal('host_key_unknown');
    expect(err?.message).to.equal(`no known host key for 127.0.0.1 port ${port} in ${files[0]}`);
    expect(err?.hint).to.equal(
      `on the server host, check its fingerprint and add it: ssh-keyscan -p ${port} 127.0.0.1 >> ~/.ssh/known_hosts`,
    );
    expect(seen.connections).to.equal(before);
  });

  it('hangs up on an engine presenting another key than the one listed: it sees no sign-in and no Docker request', async () => {
    const before = { ...seen, requests: seen.requests.length };
    const docker = engineClient(
      { address: address(), credentials: { key: clientKey.private } },
      { knownHosts: known(`[127.0.0.1]:${port} ${otherKey.public}`) },
    );
    const err = await requireAnswer(docker, address()).catch((e: SlipwayError) => e);
    expect((err as SlipwayError).code).to.equal('host_unreachable');
    expect((err as SlipwayError).message).to.not.include('\n');
    expect(seen.connections).to.equal(before.connections + 1);
    expect(seen.signIns).to.equal(before.signIns);
    expect(seen.requests.length).to.equal(before.requests);
  });

  it('pings an engine whose key is listed, plainly or hashed', async () => {
    const salt = crypto.randomBytes(20);
    const hashed = crypto.createHmac('sha1', salt).update(`[127.0.0.1]:${port}`).digest('base64');
    for (const line of [`[127.0.0.1]:${port} ${hostKey.public}`, `|1|${salt.toString('base64')}|${hashed} ${hostKey.public}`]) {
      const before = seen.requests.length;
      const docker = engineClient({ address: address(), credentials: { key: clientKey.private } }, { knownHosts: known(line) });
      await requireAnswer(docker, address());
      expect(seen.requests.slice(before).some((r) => /^(GET|HEAD) \/.*_ping/.test(r))).to.equal(true);
    }
  });
});
