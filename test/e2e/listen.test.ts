import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { BIN, eventually, freePort, sshKey, tmpdir, TestServer } from './harness.js';

function request(
  host: string,
  port: number,
  opts: { path?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host, port, path: opts.path ?? '/', headers: opts.headers, agent: false }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

function sshTo(host: string, port: number, key: string, command: string[]) {
  const args = [
    '-i',
    key,
    '-p',
    String(port),
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'LogLevel=ERROR',
    '-o',
    'BatchMode=yes',
  ];
  return spawnSync('ssh', [...args, `slipway@${host}`, ...command], { encoding: 'utf8', timeout: 60_000 });
}

function hold(host: string, port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen({ host, port, ipv6Only: net.isIPv6(host) }, () => resolve(s));
  });
}

describe('e2e: listening on IPv4 and IPv6', function () {
  this.timeout(120_000);

  it('by default serves the API, SSH and the router on 127.0.0.1 and ::1 alike', async () => {
    // No --bind: every IPv4 and IPv6 address (the harness otherwise names 127.0.0.1).
    const server = await TestServer.start({ env: { SLIPWAY_BIND: '' } });
    try {
      await eventually(() => server.output.includes('listening on   0.0.0.0, [::]'), 'the addresses in the start banner');
      const key = sshKey();
      expect(server.cli(['keys:add', key.pub]).code).to.equal(0);
      for (const host of ['127.0.0.1', '::1']) {
        const api = await request(host, server.ports.http, {
          path: '/api/v1/cli',
          headers: { authorization: `Bearer ${server.adminToken}` },
        });
        expect(api.status, host).to.equal(200);
        expect(JSON.parse(api.body).user.name).to.equal('admin');

        const ssh = sshTo(host, server.ports.ssh, key.key, ['apps']);
        expect(ssh.status, `${host}: ${ssh.stderr}`).to.equal(0);

        const routed = await request(host, server.ports.router, { headers: { host: 'nothing-here.localhost' } });
        expect(routed.status, host).to.equal(404);
        expect(routed.body).to.include('No app is served at nothing-here.localhost');
      }
    } finally {
      await server.stop();
    }
  });

  it('refuses to start, in one line naming the address, when another program holds [::]:PORT', async () => {
    const ports = { ssh: await freePort(), http: await freePort(), router: await freePort() };
    for (const [which, what] of [
      ['router', 'the router'],
      ['http', 'HTTP (git and the API)'],
      ['ssh', 'SSH'],
    ] as const) {
      // IPv6 only: the IPv4 wildcard stays free, as when another user's program took just [::].
      const taken = await hold('::', ports[which]);
      try {
        const home = tmpdir('home');
        const r = spawnSync(BIN, ['server'], {
          encoding: 'utf8',
          timeout: 60_000,
          env: {
            ...process.env,
            SLIPWAY_HOME: home,
            XDG_CONFIG_HOME: path.join(home, 'xdg'),
            SLIPWAY_SSH_PORT: String(ports.ssh),
            SLIPWAY_HTTP_PORT: String(ports.http),
            SLIPWAY_ROUTER_PORT: String(ports.router),
            SLIPWAY_ROUTER_TLS_PORT: String(await freePort()),
            SLIPWAY_PUBLIC_HOST: '127.0.0.1',
            SLIPWAY_BIND: '',
            SLIPWAY_ROUTER: 'builtin',
          },
        });
        expect(r.status, which).to.equal(1);
        const lines = r.stderr.trimEnd().split('\n');
        expect(lines, r.stderr).to.have.length(1);
        expect(lines[0]).to.equal(
          ` !     cannot listen on [::]:${ports[which]} for ${what}: another program is listening there (EADDRINUSE) (stop what holds the port, choose another port, or name the addresses to use with --bind)`,
        );
        expect(r.stdout).to.not.include('is running');
      } finally {
        await new Promise((resolve) => taken.close(resolve));
      }
    }
  });

  it('refuses a --bind that names no IP address', () => {
    const home = tmpdir('home');
    const r = spawnSync(BIN, ['server', '--bind', '127.0.0.1,localhost'], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, SLIPWAY_HOME: home },
    });
    expect(r.status).to.equal(1);
    expect(r.stderr.trimEnd().split('\n')).to.deep.equal([
      ' !     --bind "localhost" is not an IP address (name IP addresses, comma-separated (127.0.0.1,::1), or leave --bind out for every IPv4 and IPv6 address)',
    ]);
  });
});
