import { expect } from 'chai';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, tmpdir } from '../e2e/harness.js';
import { NEEDS, requiredNeeds } from './requires.js';

// Three real suites: one needing nginx, one with a builtin and an nginx half, one needing Docker.
const SUITES = ['test/router/nginx.test.ts', 'test/router/engines.test.ts', 'test/docker/docker-driver.test.ts'];

/**
 * `npm test`'s runner on SUITES, on a machine without Docker and nginx: a
 * private mount namespace where the docker and nginx executables and the
 * engine's socket are covered by an empty, non-executable file — for the
 * child, they are not installed, whatever the detection or the code reads.
 */
function runWithout(env: Record<string, string>): Promise<{ code: number; out: string }> {
  const cover = path.join(tmpdir('absent'), 'absent');
  fs.writeFileSync(cover, '', { mode: 0o644 });
  const hide = `for f in $(which -a docker dockerd nginx) /usr/sbin/nginx /var/run/docker.sock; do [ -e "$f" ] && mount --bind "$1" "$f"; done; shift; exec "$@"`;
  // As root a mount namespace; otherwise one inside a user namespace (where the runner is "root" too).
  const unshare = process.getuid?.() === 0 ? ['-m', '--propagation', 'private'] : ['-rm', '--propagation', 'private'];
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'CI' && k !== 'SLIPWAY_TEST_REQUIRE')) as Record<
    string,
    string
  >;
  const child = spawn(
    'unshare',
    [...unshare, 'sh', '-c', hide, 'sh', cover, process.execPath, '--import', 'tsx', 'scripts/test.mjs', ...SUITES],
    {
      cwd: ROOT,
      env: { ...base, DOCKER_HOST: 'unix:///var/run/docker.sock', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code: code ?? -1, out })));
}

const finalLine = (out: string) => out.trim().split('\n').at(-1)!;

describe('test runner on a machine without Docker and nginx', function () {
  this.timeout(180_000);

  it('skips what needs them, with one line per missing thing naming what to install, and passes', async () => {
    const { code, out } = await runWithout({});
    expect(code, out).to.equal(0);
    const [, passed, failed, skipped] = /^(\d+) passed, (\d+) failed, (\d+) skipped$/.exec(finalLine(out)) ?? [];
    expect(Number(failed), out).to.equal(0);
    // The builtin engine's half still runs; every nginx and docker test skips.
    expect(Number(passed), out).to.be.greaterThan(0);
    expect(Number(skipped), out).to.be.greaterThan(10);
    const lines = out.split('\n').filter((l) => l.startsWith('skipped the suites'));
    expect(lines.sort(), out).to.deep.equal([
      'skipped the suites that need docker: the docker CLI is not installed: apt-get install docker.io, then start dockerd',
      'skipped the suites that need nginx: nginx is not installed: apt-get install nginx',
    ]);
  });

  it('fails those suites instead when SLIPWAY_TEST_REQUIRE names them', async () => {
    const { code, out } = await runWithout({ SLIPWAY_TEST_REQUIRE: 'docker,nginx' });
    expect(code, out).to.equal(1);
    // One failure per suite that needs them: NginxRouter, the two nginx halves of engines, the docker driver.
    expect(finalLine(out), out).to.match(/^\d+ passed, 4 failed, 0 skipped$/);
    expect(out).to.include('nginx is required (CI or SLIPWAY_TEST_REQUIRE) but nginx is not installed');
    expect(out).to.include('docker is required (CI or SLIPWAY_TEST_REQUIRE) but the docker CLI is not installed');
    expect(out).to.not.include('skipped the suites');
  });
});

describe('test/support/requires: which needs a run must meet', () => {
  it('all of them under CI=true, the named ones under SLIPWAY_TEST_REQUIRE, none otherwise', () => {
    expect([...requiredNeeds({ CI: 'true' })]).to.deep.equal([...NEEDS]);
    expect([...requiredNeeds({ SLIPWAY_TEST_REQUIRE: 'all' })]).to.deep.equal([...NEEDS]);
    expect([...requiredNeeds({ SLIPWAY_TEST_REQUIRE: 'docker, nginx' })]).to.deep.equal(['docker', 'nginx']);
    expect([...requiredNeeds({})]).to.deep.equal([]);
  });

  it('refuses a name no suite needs, so a typo cannot turn a failure into a skip', () => {
    expect(() => requiredNeeds({ SLIPWAY_TEST_REQUIRE: 'docker,ngnix' })).to.throw('SLIPWAY_TEST_REQUIRE names ngnix, which no test needs');
  });
});
