import { expect } from 'chai';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import type { Driver, ExecRequest, GuestUser, Instance, InstanceSpec, Limits } from '../../src/runtime/driver.js';
import { isPortOpen } from '../../src/runtime/ports.js';
import { waitForHttp } from '../../src/router/health.js';
import { requires, type Need } from '../support/requires.js';
import { until } from '../support/wait.js';

/**
 * What every runtime driver promises (src/runtime/driver.ts), as one suite
 * each driver runs against the real thing, like the router engines' shared
 * suite: a new driver proves itself by passing it. The app is the same
 * everywhere; the driver under test only supplies how to make itself.
 */
export interface DriverUnderTest {
  /** Makes the driver once for the whole suite; `home` is a fresh data directory. */
  create(home: string): Promise<Driver>;
  /** The driver keeps things of an app beyond its instances (images, volumes), so it has `removeApp`. */
  removesApps?: boolean;
  /** What the driver needs on this machine (test/support/requires.ts): missing, the suite skips, or fails in CI. */
  needs: Need[];
  /** Drops what the suite may have left in the runtime (containers), after `shutdown`. */
  cleanup?(home: string): Promise<void>;
  /**
   * Readies what the driver's first start of the release needs and makes once
   * per release (the swarm driver: its image, pushed and pulled by every node),
   * under the suite's setup time, so each test's time is the driver's own.
   */
  prepare?(release: { home: string; app: string; release: number; releaseDir: string; user: GuestUser }): Promise<void>;
  /**
   * A crashed instance comes back as a new process wherever the runtime puts
   * it (a Swarm task on any node, at the port Swarm gave it there), so after a
   * restart it answers at its new address; otherwise it keeps its port.
   */
  movesOnRestart?: boolean;
}

/** The app: answers with what it sees of its guest, logs each request, crashes or leaves on request. */
const SERVER = `const http = require('http');
const server = http.createServer((req, res) => {
  console.log('request ' + req.url);
  if (req.url === '/crash') {
    res.end('bye');
    setTimeout(() => process.exit(3), 20);
    return;
  }
  res.setHeader('content-type', 'application/json');
  let user;
  try {
    user = require('os').userInfo().username;
  } catch (err) {
    user = 'os.userInfo() failed: ' + err.message;
  }
  res.end(JSON.stringify({ uid: process.getuid(), gid: process.getgid(), user, cwd: process.cwd(), home: process.env.HOME, port: process.env.PORT, dyno: process.env.DYNO, custom: process.env.CUSTOM }));
});
server.listen(Number(process.env.PORT), () => console.log('listening on ' + process.env.PORT));
process.on('SIGTERM', () => {
  console.log('got SIGTERM');
  server.close(() => process.exit(0));
});
`;

/**
 * Runs for 3 s (long enough for any driver to see it running), then grows by
 * 16 MiB every 50 ms until its memory limit stops it.
 */
const HOG = `node -e "const a = []; setTimeout(() => setInterval(() => a.push(Buffer.alloc(16 << 20, 1)), 50), 3000)"`;

/** An unallocated uid (the allocator hands out 70000…), so the guest's user is provably the one asked for. */
const USER: GuestUser = { uid: 64123, gid: 64123 };
const LIMITS: Limits = { memoryMb: 96, cpuShares: 512, pids: 128 };

/** Where an instance answers, as the router and health checks reach it (src/pipeline/formation.ts): its host, else this machine. */
const at = (i: Instance) => ({ host: i.host ?? '127.0.0.1', port: i.port! });

function getJson(i: Instance, urlPath = '/'): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    http
      .get({ ...at(i), path: urlPath, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve(urlPath === '/' ? JSON.parse(body) : { body }));
      })
      .on('error', reject);
  });
}

function collector(): PassThrough & { text(): string } {
  const chunks: Buffer[] = [];
  const out = new PassThrough();
  out.on('data', (c: Buffer) => chunks.push(c));
  return Object.assign(out, { text: () => Buffer.concat(chunks).toString('utf8') });
}

export function driverContract(name: string, under: DriverUnderTest): void {
  describe(`Driver contract: ${name}`, function () {
    requires(...under.needs);
    this.timeout(120_000);
    const APP = `contract-${name}`;
    let home: string;
    let driver: Driver;
    let releaseDir: string;
    let dataDir: string;
    let logFile: string;

    const spec = (over: Partial<InstanceSpec> = {}): InstanceSpec => ({
      app: APP,
      release: 1,
      type: 'web',
      index: 1,
      command: 'node server.js',
      releaseDir,
      dataDir,
      env: { CUSTOM: 'from-config' },
      logFile,
      user: USER,
      limits: LIMITS,
      ...over,
    });

    const running = (id: string) => driver.instances(APP).find((i) => i.id === id);
    const logText = () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '');

    before(async function () {
      // A release prepared per driver (an image pushed to a registry and pulled by each node) takes longer than a test.
      if (under.prepare) this.timeout(600_000);
      home = fs.mkdtempSync(path.join(os.tmpdir(), `slipway-contract-${name}-`));
      fs.chmodSync(home, 0o755);
      releaseDir = path.join(home, 'apps', APP, 'releases', 'v1');
      dataDir = path.join(home, 'apps', APP, 'data');
      logFile = path.join(home, 'apps', APP, 'logs', `${APP}.log`);
      fs.mkdirSync(releaseDir, { recursive: true });
      fs.mkdirSync(dataDir, { recursive: true });
      fs.writeFileSync(path.join(releaseDir, 'server.js'), SERVER);
      driver = await under.create(home);
      await under.prepare?.({ home, app: APP, release: 1, releaseDir, user: USER });
    });

    after(async () => {
      if (!home) return; // skipped: nothing was made
      await driver?.shutdown({ graceMs: 2000 });
      await under.cleanup?.(home);
      fs.rmSync(home, { recursive: true, force: true });
    });

    it('starts a web instance that answers on its port, in the guest: /app as cwd and HOME, $PORT, config as env, its own user', async () => {
      const inst = await driver.start(spec());
      expect(inst).to.include({ id: `${APP}.v1.web.1`, app: APP, release: 1, type: 'web', index: 1 });
      expect(inst.port).to.be.a('number');
      await waitForHttp({ ...at(inst), timeoutMs: 30_000 });
      const seen = await getJson(inst);
      expect(seen).to.include({ cwd: '/app', home: '/app', dyno: 'web.1', custom: 'from-config', uid: USER.uid, gid: USER.gid });
      // The user has a name, as on a dyno (guest/identity.ts): Node's os.userInfo() throws for a uid without one.
      expect(seen.user).to.equal('app');
      expect(seen.port).to.match(/^\d+$/);
      await until('state up', () => running(inst.id)?.state === 'up', 30_000);
      expect(driver.instances('someone-else')).to.deep.equal([]);
    });

    it("writes the app's output to its log, each line timestamped and tagged with its dyno", async () => {
      await getJson(running(`${APP}.v1.web.1`)!, '/');
      const log = await until('log lines', () => /web\.1: request \/$/m.test(logText()) && logText(), 20_000);
      expect(log).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z web\.1: listening on \d+$/m);
    });

    it('runs a one-off in the release as the app user, with its env, and resolves with its exit code', async () => {
      const stdout = collector();
      const stderr = collector();
      const req: ExecRequest = {
        app: APP,
        release: 1,
        releaseDir,
        dataDir,
        env: { CUSTOM: 'from-config' },
        argv: ['sh', '-c', 'id -u; whoami; pwd; echo "$CUSTOM"; echo "$1"; echo oops >&2; exit 7', 'sh', 'two words; $(not run)'],
        stdin: Readable.from([]),
        stdout,
        stderr,
        user: USER,
        limits: LIMITS,
      };
      expect(await driver.exec(req)).to.equal(7);
      expect(stdout.text().trim().split('\n')).to.deep.equal([String(USER.uid), 'app', '/app', 'from-config', 'two words; $(not run)']);
      expect(stderr.text()).to.include('oops');
    });

    it('reports a crash to onExit listeners, as crashed, then restarts the instance', async () => {
      const before = running(`${APP}.v1.web.1`)!;
      const exits: Array<[number | null, string | undefined]> = [];
      const off = driver.onExit(before.id, (code) => exits.push([code, running(before.id)?.state]));
      await getJson(before, '/crash');
      await until('exit reported', () => exits.length > 0, 30_000);
      off();
      expect(exits[0]).to.deep.equal([3, 'crashed']);
      const after = await until('restarted', () => running(before.id)?.restarts === before.restarts + 1 && running(before.id), 30_000);
      if (!under.movesOnRestart) expect(after.port).to.equal(before.port);
      await waitForHttp({ ...at(after), timeoutMs: 30_000 });
      expect((await getJson(after)).custom).to.equal('from-config');
    });

    it('holds a process to its memory limit and says so (reason: memory)', async () => {
      const hog = await driver.start(spec({ type: 'hog', command: HOG, limits: { ...LIMITS, memoryMb: 64 } }));
      const exits: Array<number | null> = [];
      const off = driver.onExit(hog.id, (code) => exits.push(code));
      await until('killed at its limit', () => exits.length > 0, 60_000);
      off();
      expect(running(hog.id)?.reason).to.equal('memory');
      await driver.stop(hog.id, { graceMs: 1000 });
    });

    it('stops an instance with SIGTERM first; it leaves the list and its port', async () => {
      const inst = running(`${APP}.v1.web.1`)!;
      await driver.stop(inst.id, { graceMs: 10_000 });
      expect(running(inst.id)).to.equal(undefined);
      expect(await isPortOpen(at(inst).port, at(inst).host, 1000)).to.equal(false);
      expect(logText()).to.match(/web\.1: got SIGTERM$/m);
      await driver.stop(inst.id); // gone already: resolves
    });

    if (under.removesApps) {
      it('removeApp drops everything of the app: its instances stop and leave the list', async () => {
        const inst = await driver.start(spec({ index: 2 }));
        await waitForHttp({ ...at(inst), timeoutMs: 30_000 });
        await driver.removeApp!(APP);
        expect(driver.instances(APP)).to.deep.equal([]);
        expect(await isPortOpen(at(inst).port, at(inst).host, 1000)).to.equal(false);
      });
    }
  });
}
