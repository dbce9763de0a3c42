import { expect } from 'chai';
import net from 'node:net';
import { checkPath } from '../../src/guest/launch.js';
import { acceptedByUid, loopbackListenerUid } from '../../src/guest/listeners.js';
import { parseMemory } from '../../src/guest/users.js';
import { parseResize } from '../../src/commands/resize.js';

describe('guest: the small parts', () => {
  it('refuses paths overlayfs options would split, or that climb', () => {
    expect(checkPath('/srv/slipway/apps/a/releases/v1', 'release')).to.equal('/srv/slipway/apps/a/releases/v1');
    for (const bad of ['/srv/a,upperdir=/etc', '/srv/a:b', 'relative/path', '/srv/../etc', '/srv/a b', '/srv/a\nb']) {
      expect(() => checkPath(bad, 'release'), bad).to.throw('cannot be mounted into a guest');
    }
  });

  it('reads sizes as Heroku and Dokku write them', () => {
    expect(parseMemory('512M')).to.equal(512);
    expect(parseMemory('1G')).to.equal(1024);
    expect(parseMemory('1536')).to.equal(1536);
    expect(parseMemory('2gb')).to.equal(2048);
    expect(parseMemory('lots')).to.equal(undefined);
    expect(parseResize('web=1G,cpu=512,pids=128')).to.deep.equal({ type: 'web', changes: { memoryMb: 1024, cpuShares: 512, pids: 128 } });
    expect(parseResize('worker=default')).to.deep.equal({ type: 'worker', changes: { memoryMb: null, cpuShares: null, pids: null } });
    for (const bad of ['web', '=1G', 'web=', 'web=8M', 'web=1G,pids=2', 'web=1G,cpu=x', 'we b=1G', 'web=1G,swap=1']) {
      expect(() => parseResize(bad), bad).to.throw();
    }
  });

  // Node's default listener is dual-stack (`::`): its accepted sockets are in tcp6, a 127.0.0.1 one's in tcp.
  for (const host of ['127.0.0.1', '::'])
    it(`names the uid that owns a loopback listener and the connections it accepted (listening on ${host})`, async () => {
      const server = net.createServer((s) => s.on('error', () => undefined));
      await new Promise<void>((r) => server.listen(0, host, r));
      const port = (server.address() as net.AddressInfo).port;
      try {
        expect(loopbackListenerUid(port)).to.equal(process.getuid!());
        const client = net.connect(port, '127.0.0.1');
        await new Promise((r) => client.once('connect', r));
        expect(acceptedByUid(port, client.localPort!)).to.equal(process.getuid!());
        // A connection between other ports is not this one.
        expect(acceptedByUid(port, client.localPort! === 1 ? 2 : 1)).to.equal(undefined);
        client.destroy();
      } finally {
        server.close();
      }
      expect(loopbackListenerUid(port)).to.equal(undefined);
    });
});
