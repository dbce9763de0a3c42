import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { ProcessDriver } from '../../src/runtime/process/index.js';
import type { InstanceSpec } from '../../src/runtime/driver.js';
import { waitForHttp } from '../../src/router/health.js';
import { SlipwayError } from '../../src/errors.js';
import { alive } from '../support/proc.js';
import { until } from '../support/wait.js';

/** A tiny app: answers with what it sees of its environment. */
const SERVER = `
const http = require('http');
const server = http.createServer((req, res) => {
  const e = process.env;
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ pid: process.pid, port: e.PORT, dyno: e.DYNO, home: e.HOME, app: e.SLIPWAY_APP,
    release: e.SLIPWAY_RELEASE, data: e.SLIPWAY_DATA_DIR, greeting: e.GREETING, plain: e.PLAIN,
    custom: e.CUSTOM, leaked: e.SLIPWAY_TEST_DAEMON_SECRET, cwd: process.cwd() }));
});
server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('listening on ' + process.env.PORT));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

const NODE_PATH = `${path.dirname(process.execPath)}:${process.env.PATH ?? '/usr/bin:/bin'}`;

function getJson(port: number): Promise<Record<string, string | number | undefined>> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve(JSON.parse(body)));
      })
      .on('error', reject);
  });
}

describe('ProcessDriver', function () {
  this.timeout(30_000);
  let tmp: string;
  let releaseDir: string;
  let driver: ProcessDriver;

  const spec = (over: Partial<InstanceSpec> = {}): InstanceSpec => ({
    app: 'demo',
    release: 3,
    type: 'web',
    index: 1,
    command: `node -e "require('./server.cjs')"`,
    releaseDir,
    dataDir: path.join(tmp, 'data'),
    env: { CUSTOM: 'from-config', PORT: '1' },
    logFile: path.join(tmp, 'logs', 'demo.log'),
    ...over,
  });

  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-process-'));
    releaseDir = path.join(tmp, 'release');
    fs.mkdirSync(path.join(releaseDir, '.profile.d'), { recursive: true });
    fs.writeFileSync(path.join(releaseDir, 'server.cjs'), SERVER);
    fs.writeFileSync(path.join(releaseDir, '.profile.d', 'greet.sh'), 'export GREETING="hello from profile.d"\nPLAIN=plain-assignment\n');
    process.env.SLIPWAY_TEST_DAEMON_SECRET = 'must-not-leak';
    driver = new ProcessDriver({ portRange: [30100, 30199], restart: { initialMs: 100, maxMs: 1000 }, path: NODE_PATH });
  });

  after(async () => {
    delete process.env.SLIPWAY_TEST_DAEMON_SECRET;
    await driver.shutdown({ graceMs: 2000 });
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('runs a web process on its own port with a clean env and .profile.d sourced', async () => {
    const inst = await driver.start(spec());
    expect(inst.id).to.equal('demo.v3.web.1');
    expect(inst.port).to.be.within(30100, 30199);
    await waitForHttp({ port: inst.port!, timeoutMs: 10_000 });
    const seen = await getJson(inst.port!);
    expect(seen).to.include({
      port: String(inst.port),
      dyno: 'web.1',
      home: releaseDir,
      cwd: releaseDir,
      app: 'demo',
      release: 'v3',
      data: path.join(tmp, 'data'),
      greeting: 'hello from profile.d',
      plain: 'plain-assignment',
      custom: 'from-config',
    });
    expect(seen.leaked).to.equal(undefined);
    await until('state up', () => driver.instances('demo')[0]?.state === 'up');
    expect(driver.instances('other')).to.deep.equal([]);
  });

  it('writes timestamped, tagged lines to the log file', async () => {
    const port = driver.instances('demo')[0]!.port!;
    const log = await until('log line', () => {
      const text = fs.readFileSync(spec().logFile, 'utf8');
      return text.includes(`web.1: listening on ${port}`) && text;
    });
    expect(log).to.match(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z web\\.1: listening on ${port}$`, 'm'));
  });

  it('restarts a process that was killed, on the same port', async () => {
    const before = driver.instances('demo')[0]!;
    const exits: Array<[number | null, string | null, string | undefined]> = [];
    const off = driver.onExit(before.id, (code, signal) => exits.push([code, signal, driver.instances('demo')[0]?.state]));
    process.kill(before.pid!, 'SIGKILL');
    await until('exit seen', () => exits.length > 0);
    expect(exits[0]).to.deep.equal([null, 'SIGKILL', 'crashed']);
    const after = await until('restart', () => {
      const i = driver.instances('demo')[0];
      return i && i.restarts === 1 && i.pid !== undefined && i;
    });
    expect(after.port).to.equal(before.port);
    await waitForHttp({ port: after.port!, timeoutMs: 10_000 });
    const seen = await getJson(after.port!);
    expect(seen.pid).to.not.equal(before.pid);
    off();
  });

  it('stops a web instance and frees its id', async () => {
    const id = driver.instances('demo')[0]!.id;
    await driver.stop(id, { graceMs: 5000 });
    expect(driver.instances('demo')).to.deep.equal([]);
    await driver.stop(id); // unknown id now: resolves
    await driver.stop('nope.v1.web.1');
  });

  it('stop kills the whole process group, forked children included', async () => {
    const inst = await driver.start(spec({ type: 'worker', command: 'sleep 1000 & echo $! > child.pid; wait' }));
    expect(inst.port).to.equal(undefined);
    const pidFile = path.join(releaseDir, 'child.pid');
    const child = await until('child pid', () => fs.existsSync(pidFile) && Number(fs.readFileSync(pidFile, 'utf8').trim()));
    expect(!alive(child)).to.equal(false);
    await driver.stop(inst.id, { graceMs: 5000 });
    expect(!alive(child)).to.equal(true);
    fs.rmSync(pidFile);
  });

  it('escalates to SIGKILL when SIGTERM is ignored', async () => {
    const inst = await driver.start(spec({ type: 'stubborn', command: `trap '' TERM; echo trapped; sleep 1000 & wait` }));
    // Only once the trap is set would a SIGTERM be ignored.
    await until('trap set', () => fs.readFileSync(spec().logFile, 'utf8').includes('stubborn.1: trapped'));
    await driver.stop(inst.id, { graceMs: 300 });
    expect(!alive(inst.pid!)).to.equal(true);
    expect(fs.readFileSync(spec().logFile, 'utf8')).to.match(/slipway\[stubborn\.1\]: Stopping all processes with SIGKILL/);
  });

  it('stop cancels a pending restart', async () => {
    const slow = new ProcessDriver({ portRange: [30200, 30299], restart: { initialMs: 60_000, maxMs: 60_000 }, path: NODE_PATH });
    const inst = await slow.start(spec({ type: 'worker', command: 'exit 3' }));
    const crashed = await until('crash', () => slow.instances()[0]?.state === 'crashed');
    expect(crashed).to.equal(true);
    await slow.stop(inst.id, { graceMs: 1000 });
    expect(slow.instances()).to.deep.equal([]);
    await slow.shutdown();
  });

  it('refuses a missing release directory with a clear error', async () => {
    const err = await driver.start(spec({ releaseDir: path.join(tmp, 'missing') })).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(SlipwayError);
    expect((err as SlipwayError).code).to.equal('release_dir_missing');
    expect(driver.instances()).to.deep.equal([]);
  });
});
