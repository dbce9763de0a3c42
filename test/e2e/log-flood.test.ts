import { expect } from 'chai';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BIN, commitAll, eventually, floodRepo, git, push, setMessage, tmpdir, useServer } from './harness.js';

const FLOOD_MS = 20_000;
/** How much the daemon may grow while an app floods its log (the bound). */
const MAX_GROWTH_MB = 50;

/** Logs every request, so the test can make a line appear in its log on demand. */
function echoRepo(): string {
  const dir = tmpdir('other');
  fs.writeFileSync(path.join(dir, 'Procfile'), 'web: node server.js\n');
  fs.writeFileSync(path.join(dir, 'message.txt'), 'first\n');
  fs.writeFileSync(
    path.join(dir, 'server.js'),
    `const http = require('http');
const message = require('fs').readFileSync('message.txt', 'utf8').trim();
http.createServer((req, res) => {
  console.log('request ' + req.url);
  res.end(message);
}).listen(Number(process.env.PORT));
`,
  );
  git(dir, ['init', '-q', '-b', 'main']);
  commitAll(dir, 'other');
  return dir;
}

/** The daemon's resident memory in MB, as `ps` and the OOM killer see it. */
function rssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)![1]) / 1024;
}

describe('e2e: an app flooding its log', function () {
  this.timeout(240_000);
  const env = useServer();

  it("keeps the daemon within 50 MB of its memory, gives it back, and keeps other apps' logs and deploys working", async () => {
    const { server, key } = env;
    const pid = server.proc!.pid!;
    for (const app of ['flood', 'other']) expect(server.cli(['apps:create', app]).code).to.equal(0);
    const other = echoRepo();
    for (const [app, repo] of [
      ['flood', floodRepo()],
      ['other', other],
    ] as const) {
      const r = await push(repo, server.sshRemote(app), { sshCommand: key.sshCommand });
      expect(r.code, r.stderr).to.equal(0);
    }
    expect((await server.get('flood')).body).to.equal('flood app');

    await sleep(1000);
    const before = Math.max(rssMb(pid), rssMb(pid));
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 200);

    // A follower of the flood that never reads what it is sent (a stalled terminal).
    const stalled = spawn(BIN, ['logs', 'flood', '-f', '-n', '0'], { env: server.env, stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      expect((await server.get('flood', '/flood/start')).body).to.equal('flooding');
      const floodEnds = Date.now() + FLOOD_MS;

      // While it floods: the flooding app still serves, another app's lines
      // show up in its log, and a deploy of that app goes through.
      let marks = 0;
      const checkOthers = async () => {
        while (Date.now() < floodEnds) {
          const mark = `/mark-${++marks}`;
          expect((await server.get('other', mark)).status).to.equal(200);
          await eventually(
            async () => (await server.cliAsync(['logs', 'other', '-n', '20'])).stdout.includes(`request ${mark}`),
            `${mark} in the other app's log`,
          );
          expect((await server.get('flood')).body).to.equal('flood app');
          await sleep(500);
        }
      };
      const deploy = async () => {
        setMessage(other, 'second');
        const r = await push(other, server.sshRemote('other'), { sshCommand: key.sshCommand });
        expect(r.code, r.stderr).to.equal(0);
        expect((await server.get('other')).body).to.equal('second');
      };
      await Promise.all([checkOthers(), deploy()]);
      expect(marks).to.be.at.least(3);
      expect((await server.get('flood', '/flood/stop')).body).to.equal('stopped');
    } finally {
      clearInterval(sampler);
      stalled.kill();
    }

    const logs = server.cli(['logs', 'flood', '-n', '200']);
    expect(logs.code, logs.stderr).to.equal(0);
    expect(logs.stdout).to.match(/ web\.1: flood\n|\[slipway: \d+ lines? dropped\]/);

    // eslint-disable-next-line no-console
    console.log(`      daemon RSS: ${before.toFixed(1)} MB before, ${peak.toFixed(1)} MB at most during the flood`);
    expect(peak - before).to.be.below(MAX_GROWTH_MB);
    // Given back once the flood is over: back near where it started.
    let settled = peak;
    await eventually(() => (settled = rssMb(pid)) - before < MAX_GROWTH_MB / 2, 'the daemon to give memory back', 30_000).catch(
      () => undefined,
    );
    // eslint-disable-next-line no-console
    console.log(`      daemon RSS after the flood: ${settled.toFixed(1)} MB`);
    expect(settled - before).to.be.below(MAX_GROWTH_MB / 2);
  });
});
