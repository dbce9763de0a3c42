import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_EGRESS, type EgressSettings } from '../../src/egress/index.js';
import { fetchArchive } from '../../src/releases/fetch.js';
import { SlipwayError } from '../../src/errors.js';

/** Real servers on loopback: 127.0.0.1 is allowed to these tests, 127.0.0.3 is not (it must see nothing). */
const ALLOWED = '127.0.0.1';
const FORBIDDEN = '127.0.0.3';

async function listen(server: net.Server, host: string): Promise<number> {
  await new Promise<void>((r) => server.listen(0, host, r));
  return (server.address() as net.AddressInfo).port;
}

describe('egress/fetch (artifact_urls under the egress rules)', function () {
  this.timeout(30_000);
  const settings: EgressSettings = {
    ...DEFAULT_EGRESS,
    allow: [`${ALLOWED}/32`],
    idleTimeoutMs: 400,
    totalTimeoutMs: 3_000,
    maxBytes: 64 * 1024,
  };
  const servers: net.Server[] = [];
  const sockets: net.Socket[] = [];
  let dir: string;
  let forbiddenPort = 0;
  let forbiddenHits = 0;

  const serve = async (handler: http.RequestListener) => {
    const s = http.createServer(handler);
    s.on('connection', (c) => sockets.push(c));
    servers.push(s);
    return `http://${ALLOWED}:${await listen(s, ALLOWED)}`;
  };
  const fetch = (url: string, over: Partial<Parameters<typeof fetchArchive>[0]> = {}) =>
    fetchArchive({ url, destDir: path.join(dir, 'dest'), egress: settings, setting: 'artifact_urls', trusted: false, ...over });
  const refusal = async (p: Promise<unknown>): Promise<string> => {
    try {
      await p;
    } catch (err) {
      expect(err).to.be.instanceOf(SlipwayError);
      return (err as Error).message;
    }
    throw new Error('expected a refusal');
  };

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-egress-'));
    const trap = net.createServer((c) => {
      forbiddenHits++;
      c.destroy();
    });
    servers.push(trap);
    forbiddenPort = await listen(trap, FORBIDDEN);
  });
  afterEach(() => {
    // Nothing is left behind in the destination after a refusal or failure.
    const left = fs.existsSync(path.join(dir, 'dest')) ? fs.readdirSync(path.join(dir, 'dest')) : [];
    for (const f of left) fs.rmSync(path.join(dir, 'dest', f));
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    fs.rmSync(dir, { recursive: true, force: true });
    expect(forbiddenHits, 'connections to the forbidden listener').to.equal(0);
  });

  it('fetches from an allowed address, and checks a #sha256 pin', async () => {
    const body = crypto.randomBytes(5000);
    const base = await serve((_req, res) => res.end(body));
    const sha = crypto.createHash('sha256').update(body).digest('hex');
    const got = await fetch(`${base}/a.tgz#sha256=${sha}`);
    expect(got).to.include({ size: 5000, sha256: sha });
    expect(fs.readFileSync(got.file).equals(body)).to.equal(true);
  });

  it('refuses loopback, metadata and IPv6 loopback addresses before connecting', async () => {
    expect(await refusal(fetch(`http://${FORBIDDEN}:${forbiddenPort}/x`))).to.equal(
      `artifact_urls: http://${FORBIDDEN}:${forbiddenPort}/x resolves to ${FORBIDDEN}, a loopback address; only an admin may allow it (slipway server --egress-allow ${FORBIDDEN}/32)`,
    );
    expect(await refusal(fetch('http://169.254.169.254/latest/meta-data/'))).to.include('link-local');
    expect(await refusal(fetch('http://[::1]:1/x'))).to.include('resolves to ::1, a loopback address');
    expect(await refusal(fetch('http://[::ffff:127.0.0.3]:1/x'))).to.include('a loopback address');
    expect(await refusal(fetch('http://localhost:1/x', { egress: { ...settings, allow: [] } }))).to.include(
      'resolves to 127.0.0.1, a loopback address',
    );
    expect(await refusal(fetch('ftp://example.com/x'))).to.include('only http and https');
  });

  it('checks every redirect hop: a redirect to a forbidden address is refused and never connected to', async () => {
    const base = await serve((req, res) => {
      if (req.url === '/hop') return res.writeHead(302, { location: '/final' }).end();
      if (req.url === '/final') return res.end('fine');
      res.writeHead(302, { location: `http://${FORBIDDEN}:${forbiddenPort}/secret` }).end();
    });
    expect((await fetch(`${base}/hop`)).size).to.equal(4);
    const message = await refusal(fetch(`${base}/away`));
    expect(message).to.include(`(redirected to http://${FORBIDDEN}:${forbiddenPort}/secret) resolves to ${FORBIDDEN}, a loopback address`);
    expect(message).to.match(/^artifact_urls: /);
  });

  it('fails a server that accepts and never answers within the idle timeout, and a transfer that stalls', async () => {
    const silent = net.createServer((c) => sockets.push(c));
    servers.push(silent);
    const port = await listen(silent, ALLOWED);
    expect(await refusal(fetch(`http://${ALLOWED}:${port}/x`))).to.equal(
      `artifact_urls: http://${ALLOWED}:${port}/x sent nothing for 0.4s (egress idle timeout); the transfer stalled`,
    );
    const base = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': '10000' });
      res.write(Buffer.alloc(100));
    });
    expect(await refusal(fetch(`${base}/half`))).to.include('(egress idle timeout)');
  });

  it('fails a transfer that trickles past the total timeout', async () => {
    const base = await serve((_req, res) => {
      res.writeHead(200);
      const t = setInterval(() => (res.destroyed ? clearInterval(t) : res.write('x')), 100);
    });
    expect(await refusal(fetch(`${base}/slow`, { egress: { ...settings, totalTimeoutMs: 800 } }))).to.include(
      'took longer than 0.8s (egress total timeout)',
    );
  });

  it('refuses bodies over the size limit, announced or not', async () => {
    const base = await serve((req, res) => {
      if (req.url === '/announced') return res.writeHead(200, { 'content-length': String(settings.maxBytes + 1) }).end();
      res.writeHead(200);
      res.end(Buffer.alloc(settings.maxBytes + 10));
    });
    expect(await refusal(fetch(`${base}/announced`))).to.include(`more than the ${settings.maxBytes} bytes allowed`);
    expect(await refusal(fetch(`${base}/chunked`))).to.include(`larger than the ${settings.maxBytes} bytes allowed`);
  });

  it('reads file URLs only when an admin set them, and only regular files: never a FIFO, socket, device, directory or symlink', async () => {
    const file = path.join(dir, 'ok.tgz');
    fs.writeFileSync(file, 'archive');
    expect(await refusal(fetch(`file://${file}`))).to.include('only an admin may set file URLs and host paths');
    expect((await fetch(`file://${file}`, { trusted: true })).size).to.equal(7);

    const fifo = path.join(dir, 'fifo');
    expect(spawnSync('mkfifo', [fifo]).status).to.equal(0);
    const sock = path.join(dir, 'sock');
    const unix = net.createServer();
    servers.push(unix);
    await new Promise<void>((r) => unix.listen(sock, r));
    fs.symlinkSync(file, path.join(dir, 'link'));
    const cases: Array<[string, RegExp]> = [
      [fifo, /is a FIFO; only regular files are read/],
      [sock, /is a socket; only regular files are read/],
      ['/dev/zero', /is a device; only regular files are read/],
      [dir, /is a directory; only regular files are read/],
      [path.join(dir, 'link'), /is a symbolic link; only regular files are read/],
      [path.join(dir, 'missing'), /does not exist/],
    ];
    for (const [p, message] of cases) expect(await refusal(fetch(`file://${p}`, { trusted: true })), p).to.match(message);
    // None of it held a pool thread: a file operation still answers at once.
    expect(fs.readFileSync(file, 'utf8')).to.equal('archive');
    expect(await fs.promises.readFile(file, 'utf8')).to.equal('archive');
  });
});
