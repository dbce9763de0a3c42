import { expect } from 'chai';
import fs from 'node:fs';
import net from 'node:net';
import { DEFAULT_PORTS, PortAllocator, isPortFree } from '../../src/runtime/ports.js';

const listen = (host: string, port = 0) =>
  new Promise<net.Server>((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen({ port, host, ipv6Only: host.includes(':') }, () => resolve(s));
  });
const close = (s: net.Server) => new Promise((r) => s.close(r));

/**
 * An instance's port must be one its app can listen on, at whatever address
 * it listens (node's default is `::`), until the app does.
 */
describe('runtime/ports: the ports instances get', () => {
  it('lie below the ephemeral range, where no outgoing connection can take one before the app listens', async () => {
    const [ephemeralLow] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    for (const [low, high] of Object.values(DEFAULT_PORTS)) {
      expect(low).to.be.above(1023);
      expect(high, `a default range ends at ${high}; ephemeral ports start at ${ephemeralLow}`).to.be.below(ephemeralLow!);
    }
  });

  it('are not handed out when something listens on them on IPv6 loopback only (the app listening on :: would fail)', async () => {
    const v6 = await listen('::1');
    const port = (v6.address() as net.AddressInfo).port;
    try {
      expect(await isPortFree(port, '127.0.0.1')).to.equal(false);
      const allocator = new PortAllocator({ range: [port, port] });
      const err = await allocator.allocate().catch((e: Error) => e);
      expect(String(err)).to.match(/no free port/);
    } finally {
      await close(v6);
    }
    expect(await isPortFree(port, '127.0.0.1')).to.equal(true);
  });

  it('are not handed out when taken on IPv4 loopback, and are free again once let go', async () => {
    const v4 = await listen('127.0.0.1');
    const port = (v4.address() as net.AddressInfo).port;
    expect(await isPortFree(port)).to.equal(false);
    await close(v4);
    expect(await isPortFree(port)).to.equal(true);
  });
});
