import { expect } from 'chai';
import http from 'node:http';
import net from 'node:net';
import { SlipwayError } from '../src/errors.js';
import { listenAll, parseBind, probeBind } from '../src/listen.js';

function get(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host, port, path: '/', agent: false }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

function hold(host: string, port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen({ host, port, ipv6Only: net.isIPv6(host) }, () => resolve(s));
  });
}

/** An http.Server on several hosts, as the daemon's entrances are. */
function serve(server: http.Server, hosts: string[], port = 0) {
  return listenAll({
    what: 'the test server',
    hosts,
    port,
    listen: (options) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(options, () => resolve((server.address() as net.AddressInfo).port));
      }),
    unlisten: () => new Promise((resolve) => server.close(() => resolve())),
    onConnection: (socket) => server.emit('connection', socket),
    serverOptions: { allowHalfOpen: true, noDelay: true },
  });
}

describe('listen: --bind and listening on several addresses', () => {
  it('parses --bind: both wildcards by default, else exactly the IP addresses named', () => {
    expect(parseBind(undefined)).to.deep.equal({ hosts: ['0.0.0.0', '::'], wildcard: true });
    expect(parseBind(' ')).to.deep.equal({ hosts: ['0.0.0.0', '::'], wildcard: true });
    expect(parseBind('127.0.0.1')).to.deep.equal({ hosts: ['127.0.0.1'], wildcard: false });
    expect(parseBind('127.0.0.1, [::1],::1')).to.deep.equal({ hosts: ['127.0.0.1', '::1'], wildcard: false });
    for (const bad of ['localhost', '127.0.0.1,', '0.0.0.0;rm', '[::1']) {
      const err = (() => {
        try {
          parseBind(bad);
        } catch (e) {
          return e;
        }
      })();
      expect(err, bad).to.be.instanceOf(SlipwayError);
      expect((err as SlipwayError).message).to.match(/^--bind ".*" is not an IP address$/);
    }
  });

  it('serves one server on 127.0.0.1 and ::1 alike', async () => {
    const server = http.createServer((req, res) => res.end(`hello ${req.socket.remoteAddress}`));
    const { port, extra } = await serve(server, ['127.0.0.1', '::1']);
    try {
      expect(await get('127.0.0.1', port)).to.equal('hello 127.0.0.1');
      expect(await get('::1', port)).to.equal('hello ::1');
    } finally {
      await extra.close();
      await new Promise((r) => server.close(r));
    }
  });

  it('fails with one line naming [::1]:PORT when another program holds it, and leaves nothing listening', async () => {
    const taken = await hold('::1', 0);
    const port = (taken.address() as net.AddressInfo).port;
    const server = http.createServer();
    try {
      const err = await serve(server, ['127.0.0.1', '::1'], port).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(SlipwayError);
      expect((err as SlipwayError).code).to.equal('bind_failed');
      expect((err as SlipwayError).message).to.equal(
        `cannot listen on [::1]:${port} for the test server: another program is listening there (EADDRINUSE)`,
      );
      // The IPv4 socket it had already opened was let go.
      expect(server.listening).to.equal(false);
      expect(await probeBind('127.0.0.1', port)).to.equal(undefined);
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });
});
