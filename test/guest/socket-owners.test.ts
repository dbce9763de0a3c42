import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { acceptedByUid, loopbackListenerUid } from '../../src/guest/listeners.js';
import { SOCKET_OWNERS, SocketOwners } from '../../src/guest/socket-owners.js';
import { until } from '../support/wait.js';

const NOBODY = 65534;

/** A listener of another uid (nobody), as another app's would be; resolves with its port. */
async function foreignListener(host: string, children: ChildProcess[]): Promise<number> {
  const child = spawn(
    'setpriv',
    [
      `--reuid=${NOBODY}`,
      `--regid=${NOBODY}`,
      '--clear-groups',
      process.execPath,
      '-e',
      `const s = require('net').createServer((c) => c.on('error', () => {})); s.listen(0, ${JSON.stringify(host)}, () => console.log(s.address().port));`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d));
  return Number(await until('the listener of nobody', () => /^\d+\n/.test(out) && out.trim()));
}

async function connect(port: number): Promise<net.Socket> {
  const client = net.connect(port, '127.0.0.1');
  await new Promise((r) => client.once('connect', r));
  return client;
}

/**
 * The router and the supervisors ask whose a guest's listener and each of its
 * connections are. The sock_diag helper must answer what /proc/net/tcp{,6}
 * answer, only faster; without it the answers are /proc's.
 */
describe('guest/socket-owners: whose loopback sockets are', function () {
  this.timeout(20_000);
  const children: ChildProcess[] = [];
  const owners: SocketOwners[] = [];
  const sockets: net.Socket[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) c.kill('SIGKILL');
    for (const s of sockets.splice(0)) s.destroy();
    for (const o of owners.splice(0)) o.close();
  });
  const make = (opts?: ConstructorParameters<typeof SocketOwners>[0]) => {
    const o = new SocketOwners(opts);
    owners.push(o);
    return o;
  };

  it('has its helper built with the package on this machine (a C compiler is there)', () => {
    expect(fs.existsSync(SOCKET_OWNERS), `${SOCKET_OWNERS} (npm run build builds it)`).to.equal(true);
    expect(make().fast).to.equal(true);
  });

  // Node's default listener is dual-stack (`::`): its accepted sockets are v4-mapped v6 ones.
  for (const host of ['127.0.0.1', '::', '0.0.0.0'])
    it(`answers as /proc does for another uid's listener on ${host} and the connections it accepted`, async () => {
      const port = await foreignListener(host, children);
      const fast = make();
      const slow = make({ helper: '/nonexistent/slipway-socket-owners' });
      expect(slow.fast).to.equal(false);
      for (const o of [fast, slow]) expect(await o.listenerUid(port)).to.equal(NOBODY);
      expect(loopbackListenerUid(port)).to.equal(NOBODY);

      const client = await connect(port);
      sockets.push(client);
      await until('the accepted side to be listed', () => acceptedByUid(port, client.localPort!) !== undefined);
      for (const o of [fast, slow]) expect(await o.acceptedByUid(port, client.localPort!)).to.equal(NOBODY);
      // Another connection to the port than ours is not known: nothing is answered for it.
      const other = client.localPort! === 1 ? 2 : 1;
      for (const o of [fast, slow]) expect(await o.acceptedByUid(port, other)).to.equal(undefined);
      // Our own listener is ours.
      const mine = net.createServer((s) => s.on('error', () => undefined));
      await new Promise<void>((r) => mine.listen(0, '127.0.0.1', r));
      const minePort = (mine.address() as net.AddressInfo).port;
      expect(await fast.listenerUid(minePort)).to.equal(process.getuid!());
      mine.close();
      await until('our listener to be gone', async () => (await fast.listenerUid(minePort)) === undefined);
      expect(fast.fast).to.equal(true);
    });

  it('answers many questions at once, each its own, in order', async () => {
    const ports = [await foreignListener('::', children), await foreignListener('127.0.0.1', children)];
    const mine = net.createServer((s) => s.on('error', () => undefined));
    await new Promise<void>((r) => mine.listen(0, '127.0.0.1', r));
    const minePort = (mine.address() as net.AddressInfo).port;
    try {
      const fast = make();
      const asked = Array.from({ length: 300 }, (_, i) => [ports[0]!, ports[1]!, minePort][i % 3]!);
      const answers = await Promise.all(asked.map((p) => fast.listenerUid(p)));
      expect(answers).to.deep.equal(asked.map((p) => (p === minePort ? process.getuid!() : NOBODY)));
    } finally {
      mine.close();
    }
  });

  it('reads /proc from then on when its helper stops, saying so once, and answers every question meanwhile', async () => {
    const port = await foreignListener('127.0.0.1', children);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-owners-'));
    // A helper that reads one question and dies without an answer.
    const dying = path.join(dir, 'dying');
    fs.writeFileSync(dying, '#!/bin/sh\nread line\nexit 3\n', { mode: 0o755 });
    const logs: string[] = [];
    const o = make({ helper: dying, log: (m) => logs.push(m) });
    expect(o.fast).to.equal(true);
    const answers = await Promise.all([o.listenerUid(port), o.listenerUid(port), o.listenerUid(port)]);
    expect(answers).to.deep.equal([NOBODY, NOBODY, NOBODY]);
    expect(o.fast).to.equal(false);
    expect(await o.listenerUid(port)).to.equal(NOBODY);
    expect(logs).to.have.length(1);
    expect(logs[0]).to.match(/sock_diag helper failed \(it stopped\); reading \/proc\/net\/tcp from now on/);
    // One that answers "E": sock_diag not usable here.
    const refusing = path.join(dir, 'refusing');
    fs.writeFileSync(refusing, '#!/bin/sh\nwhile read line; do echo "E socket(NETLINK_SOCK_DIAG): Protocol not supported"; done\n', {
      mode: 0o755,
    });
    const logs2: string[] = [];
    const r = make({ helper: refusing, log: (m) => logs2.push(m) });
    expect(await r.listenerUid(port)).to.equal(NOBODY);
    expect(logs2.join('\n')).to.include('it said: socket(NETLINK_SOCK_DIAG): Protocol not supported');
    // One that reads and never answers: the router must not wait on it.
    const stuck = path.join(dir, 'stuck');
    fs.writeFileSync(stuck, '#!/bin/sh\nread line\nexec sleep 30\n', { mode: 0o755 });
    const logs3: string[] = [];
    const s = make({ helper: stuck, log: (m) => logs3.push(m) });
    expect(await Promise.all([s.listenerUid(port), s.listenerUid(port)])).to.deep.equal([NOBODY, NOBODY]);
    expect(s.fast).to.equal(false);
    expect(logs3.join('\n')).to.include('no answer within 1000 ms');
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
