import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { findNginx } from '../../src/router/nginx-process.js';
import { clusterMissing } from './swarm-cluster.js';

/**
 * What some suites need beyond the README's quick start. Missing, such a suite
 * skips — one line per missing thing, naming what to install — so a newcomer's
 * `npm test` is green; CI (`CI=true`) and `SLIPWAY_TEST_REQUIRE=docker,nginx,…`
 * (`.ci/run` names them all) turn the skip into a failure, so nothing is skipped
 * there unnoticed.
 */
export type Need = 'docker' | 'stack' | 'nginx' | 'guests' | 'pebble' | 'swarm' | 'chromium';

export const NEEDS: readonly Need[] = ['docker', 'stack', 'nginx', 'guests', 'pebble', 'swarm', 'chromium'];

const STACK_IMAGE = 'slipway/stack:bookworm';

function onPath(name: string): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), '/usr/sbin', '/sbin']) {
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (fs.statSync(file).isFile()) return file;
    } catch {
      /* next */
    }
  }
  return undefined;
}

function docker(args: string[]): { ok: boolean; out: string } {
  const r = spawnSync('docker', args, { encoding: 'utf8', timeout: 15_000 });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() };
}

/** Each check returns why the need is not met (with what to install), or undefined when it is. */
const CHECKS: Record<Need, () => string | undefined> = {
  docker: () => {
    if (!onPath('docker')) return 'the docker CLI is not installed: apt-get install docker.io, then start dockerd';
    // The same address the code under test uses: DOCKER_HOST, else the default socket.
    if (!docker(['version', '--format', '{{.Server.Version}}']).ok)
      return `no Docker engine answers at ${process.env.DOCKER_HOST || 'unix:///var/run/docker.sock'}: start dockerd (apt-get install docker.io), or point DOCKER_HOST at one`;
    return undefined;
  },
  stack: () => {
    const engine = CHECKS.docker();
    if (engine) return engine;
    // The suites build the image themselves (`slipway stack:build`) when it is missing.
    if (docker(['image', 'inspect', '--format', '{{.Id}}', STACK_IMAGE]).ok || onPath('debootstrap')) return undefined;
    return `the ${STACK_IMAGE} image is missing and cannot be built without debootstrap: apt-get install debootstrap (or run bin/slipway stack:build)`;
  },
  nginx: () => {
    try {
      findNginx();
      return undefined;
    } catch {
      return 'nginx is not installed: apt-get install nginx';
    }
  },
  pebble: () => {
    // Let's Encrypt's test CA and its DNS, for the ACME suites (issue 13); openssl makes pebble's own certificate.
    const missing = ['pebble', 'pebble-challtestsrv', 'openssl'].filter((b) => !onPath(b));
    return missing.length ? `the ACME tests need ${missing.join(', ')}: apt-get install pebble openssl` : undefined;
  },
  // The dashboard's browser tests drive Debian's chromium through playwright-core.
  chromium: () => (onPath('chromium') ? undefined : 'the dashboard tests need a browser: apt-get install chromium'),
  // A multi-node Swarm on this machine (test/support/swarm-cluster.ts): root, namespaces, extra dockerds, a registry.
  swarm: () => clusterMissing(),
  guests: () => {
    if (process.getuid?.() !== 0) return 'guests (bubblewrap, one uid per app) need a root server: run the tests as root';
    const missing = ['bwrap', 'unshare', 'setpriv'].filter((b) => !onPath(b));
    if (missing.length) return `guests need ${missing.join(', ')}: apt-get install bubblewrap util-linux`;
    return undefined;
  },
};

/** The needs that must be met here: all of them under CI=true, else those SLIPWAY_TEST_REQUIRE names. */
export function requiredNeeds(env: NodeJS.ProcessEnv = process.env): Set<Need> {
  if (env.CI === 'true' || env.CI === '1') return new Set(NEEDS);
  const named = (env.SLIPWAY_TEST_REQUIRE ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (named.includes('all')) return new Set(NEEDS);
  const unknown = named.filter((n) => !NEEDS.includes(n as Need));
  if (unknown.length)
    throw new Error(`SLIPWAY_TEST_REQUIRE names ${unknown.join(', ')}, which no test needs: use ${NEEDS.join(', ')} or all`);
  return new Set(named as Need[]);
}

const results = new Map<Need, string | undefined>();
// On globalThis: scripts/test.mjs and the test files may load this module as two instances.
const registry = globalThis as { slipwayTestSkips?: Map<Need, string> };
const skipped = (registry.slipwayTestSkips ??= new Map<Need, string>());

/** Why `need` is not met on this machine (checked once per run), or undefined. */
export function missing(need: Need): string | undefined {
  if (!results.has(need)) results.set(need, CHECKS[need]());
  return results.get(need);
}

/**
 * Inside a `describe`, before any other hook (`useServer()` included): the
 * suite's tests skip when a need is missing, or fail when it is required.
 */
export function requires(...needs: Need[]): void {
  const required = requiredNeeds();
  before(function () {
    for (const need of needs) {
      const why = missing(need);
      if (!why) continue;
      if (required.has(need)) throw new Error(`${need} is required (CI or SLIPWAY_TEST_REQUIRE) but ${why}`);
      if (!skipped.has(need)) skipped.set(need, why);
      this.skip();
    }
  });
}

/** One line per need some suite skipped for, for the end of the run. */
export function skipLines(): string[] {
  return [...skipped].map(([need, why]) => `skipped the suites that need ${need}: ${why}`);
}
