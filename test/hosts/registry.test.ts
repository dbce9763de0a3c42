import { expect } from 'chai';
import Docker from 'dockerode';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { isPortOpen } from '../../src/runtime/ports.js';
import { TestServer, freePort, type Result } from '../e2e/harness.js';
import { requires } from '../support/requires.js';
import { TINY_IMAGE, loadTinyImage } from '../support/swarm-images.js';

/**
 * `registry:start` runs Debian's docker-registry on the server's machine for
 * the swarm driver: an engine pushes an image to it, it outlives a daemon
 * restart, `registry:stop` stops it and keeps the images. It listens on
 * loopback here (engines treat a loopback registry as plain HTTP without
 * being told), so no Swarm is needed; the swarm driver's use of it is the
 * same address the server's --registry would give.
 */
describe('registry:start: an image registry run for the swarm driver', function () {
  requires('docker', 'swarm');
  this.timeout(120_000);
  let server: TestServer;
  let port: number;
  const engine = new Docker({ socketPath: '/var/run/docker.sock' });
  const ok = (r: Result) => (expect(r.code, r.stdout + r.stderr).to.equal(0), r.stdout);
  const oneLine = (r: Result) => {
    expect(r.code, r.stdout).to.not.equal(0);
    const lines = r.stderr.trim().split('\n');
    expect(lines, r.stderr).to.have.length(1);
    return lines;
  };
  const catalog = () =>
    new Promise<{ repositories: string[] }>((resolve, reject) =>
      http
        .get({ host: '127.0.0.1', port, path: '/v2/_catalog', agent: false }, (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve(JSON.parse(body)));
        })
        .on('error', reject),
    );
  const pushed = () => `127.0.0.1:${port}/slpsw/sleep:1`;

  before(async () => {
    port = await freePort();
    // An engine that is in no Swarm (none answers here), so there is no manager address to default to.
    server = await TestServer.start({ env: { DOCKER_HOST: 'unix:///nonexistent/docker.sock' } });
  });

  after(async () => {
    server?.cli(['registry:stop']);
    await server?.stop();
    for (const image of [pushed(), TINY_IMAGE])
      await engine
        .getImage(image)
        .remove()
        .catch(() => undefined);
  });

  it('without --listen and without a Swarm: refused in one line saying what to give', () => {
    const lines = oneLine(server.cli(['registry:start']));
    expect(lines.join('\n')).to.match(/no address to listen on: the server's engine manages no Swarm/);
    expect(lines.join('\n')).to.include('registry:start --listen ADDRESS:5000');
    expect(server.cli(['registry']).stdout).to.match(/no registry runs here/);
  });

  it('a --listen that is not HOST:PORT, or is taken, is refused in one line; nothing is started', async () => {
    expect(oneLine(server.cli(['registry:start', '--listen', 'no port']))[0]).to.match(/--listen "no port" is not HOST:PORT/);
    const taken = http.createServer().listen(0, '127.0.0.1');
    await new Promise((r) => taken.once('listening', r));
    try {
      const at = `127.0.0.1:${(taken.address() as { port: number }).port}`;
      expect(oneLine(server.cli(['registry:start', '--listen', at]))[0]).to.include(`something listens on ${at} already`);
    } finally {
      taken.close();
    }
    expect(server.cli(['registry']).stdout).to.match(/no registry runs here/);
  });

  it('starts the registry; an engine pushes an image to it; a second start finds it running', async () => {
    const out = ok(server.cli(['registry:start', '--listen', `127.0.0.1:${port}`]));
    expect(out).to.match(
      new RegExp(`Started the registry at 127\\.0\\.0\\.1:${port} \\(pid \\d+, images in ${server.home}/registry/data\\)`),
    );
    expect(out).to.include('insecure-registries');
    await loadTinyImage({ socket: '/var/run/docker.sock' } as never);
    const [repo, tag] = pushed().split(/:(?=[^:]+$)/);
    await engine.getImage(TINY_IMAGE).tag({ repo, tag });
    const stream = await engine.getImage(pushed()).push({ authconfig: {} });
    const events = await new Promise<Array<{ error?: string }>>((resolve, reject) =>
      engine.modem.followProgress(stream, (err, evs) => (err ? reject(err) : resolve(evs as Array<{ error?: string }>))),
    );
    expect(events.filter((e) => e.error)).to.deep.equal([]);
    expect((await catalog()).repositories).to.deep.equal(['slpsw/sleep']);
    expect(ok(server.cli(['registry:start', '--listen', `127.0.0.1:${port}`]))).to.match(/Already running: the registry at/);
  });

  it('outlives a restart of the daemon, which finds it again', async () => {
    const before = server.cli(['registry']).stdout;
    await server.stop();
    server = await TestServer.start({ home: server.home, env: { DOCKER_HOST: 'unix:///nonexistent/docker.sock' } });
    expect(server.cli(['registry']).stdout).to.equal(before);
    expect((await catalog()).repositories).to.deep.equal(['slpsw/sleep']);
  });

  it('registry:stop stops it and keeps its images', async () => {
    expect(ok(server.cli(['registry:stop']))).to.match(/Stopped the registry \(its images are kept\)/);
    expect(await isPortOpen(port, '127.0.0.1', 1000)).to.equal(false);
    expect(server.cli(['registry']).stdout).to.match(/no registry runs here/);
    expect(fs.existsSync(path.join(server.home, 'registry/data/docker/registry/v2/repositories/slpsw/sleep'))).to.equal(true);
    expect(ok(server.cli(['registry:stop']))).to.match(/no registry runs here/);
  });
});
