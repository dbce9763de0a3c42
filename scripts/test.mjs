// Runs the mocha suite and ends with the one line CI reads:
// "N passed, N failed, M skipped". Run through `node --import tsx` so tests are
// TypeScript. Arguments: files or folders to run (any path containing one of
// them), `--grep PATTERN` for the tests whose full title matches, and
// `--jobs N` for the number of lanes (default: 2 for the whole suite, where
// most of the time is spent waiting on servers, builds and engines; 1 when
// files are named, so their output streams live).
import Mocha from 'mocha';
import { fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { requiredNeeds, skipLines } from '../test/support/requires.ts';

const root = path.resolve(new URL('..', import.meta.url).pathname);
/** Each file's duration at its last run in this checkout: the next run starts the longest first. */
const TIMES = path.join(root, 'test-results', 'times.json');
const only = [];
let grep;
let jobs;
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--grep' || args[i] === '-g') grep = args[++i];
  else if (args[i].startsWith('--grep=')) grep = args[i].slice('--grep='.length);
  else if (args[i] === '--jobs' || args[i] === '-j') jobs = Number(args[++i]);
  else if (args[i].startsWith('--jobs=')) jobs = Number(args[i].slice('--jobs='.length));
  else only.push(args[i]);
}
if (grep === undefined && args.some((a) => a === '--grep' || a === '-g')) throw new Error('--grep needs a pattern');
if (jobs !== undefined && !(Number.isInteger(jobs) && jobs >= 1)) throw new Error('--jobs needs a whole number of lanes, 1 or more');
// A typo in SLIPWAY_TEST_REQUIRE must not turn a required suite into a skipped one.
requiredNeeds();

const files = [];
const walk = (dir) => {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.name.endsWith('.test.ts')) files.push(p);
  }
};
walk(path.join(root, 'test'));
files.sort();
const chosen = files.filter((f) => !only.length || only.some((o) => f.includes(o)));
jobs = Math.min(jobs ?? (only.length ? 1 : Math.min(2, os.availableParallelism())), Math.max(chosen.length, 1));

const finish = (s, skips, failed = []) => {
  if (failed.length) console.log(`\nFailed:\n${failed.map((f) => `  ✗ ${f}`).join('\n')}`);
  if (skips.length) console.log(`\n${[...new Set(skips)].join('\n')}`);
  console.log(`\n${s.passes} passed, ${s.failures} failed, ${s.pending} skipped`);
  // A run that found no test at all is a mistake (a wrong path or pattern), not a success.
  process.exitCode = s.failures > 0 || s.passes + s.pending === 0 ? 1 : 0;
};

if (jobs === 1) {
  const mocha = new Mocha({ reporter: 'spec', timeout: 60_000, slow: 10_000, ...(grep ? { grep } : {}) });
  for (const f of chosen) mocha.addFile(f);
  await mocha.loadFilesAsync();
  const runner = mocha.run();
  const failed = [];
  runner.on('fail', (test, err) =>
    failed.push(
      `${test.fullTitle()}: ${String(err?.message ?? err)
        .split('\n')
        .filter(Boolean)
        .slice(0, 3)
        .join(' | ')
        .slice(0, 400)}`,
    ),
  );
  runner.on('end', () => finish(runner.stats ?? { passes: 0, failures: 0, pending: 0 }, skipLines(), failed));
} else {
  await lanes(chosen, jobs);
}

/**
 * Several lanes, each a worker process taking the next file when it is free.
 * The engine-heavy folders go first so that the long files do not end up
 * alone at the tail; each file's report is printed whole when it ends.
 */
async function lanes(list, n) {
  // Files on the shared Docker engine run one at a time: they find (and clean up)
  // what they made by app labels, and two servers may both have an app "nodebox".
  // The Swarm test clusters run one at a time too (one bridge, one sweep of the host's
  // namespaces by prefix), but beside an engine file: their engines are their own.
  const locksOf = new Map(
    list.map((f) => {
      const needs = [...fs.readFileSync(f, 'utf8').matchAll(/(?:requires\(|needs:)[^)\]]*/g)].map((m) => m[0]).join(' ');
      const locks = [];
      if (/'(docker|stack)'/.test(needs)) locks.push('engine');
      if (/'swarm'/.test(needs)) locks.push('swarm');
      return [f, locks];
    }),
  );
  // Longest first, so that no long file starts last: by the last run's times when this checkout has them
  // (test-results/times.json), else Swarm files, engine files, then e2e, then by size.
  const last = readTimes();
  // The Swarm files first: they are the longest, run one at a time, and beside anything else.
  const weight = (f) => (locksOf.get(f).includes('swarm') ? -1 : f.includes('/test/docker/') ? 0 : f.includes('/test/e2e/') ? 1 : 2);
  const known = (f) => last[path.relative(root, f)];
  const queue = [...list].sort((a, b) =>
    known(a) !== undefined && known(b) !== undefined
      ? known(b) - known(a)
      : weight(a) - weight(b) || fs.statSync(b).size - fs.statSync(a).size,
  );
  const held = new Set();
  const take = () => {
    const i = queue.findIndex((f) => !locksOf.get(f).some((l) => held.has(l)));
    if (i < 0) return undefined;
    const [f] = queue.splice(i, 1);
    for (const l of locksOf.get(f)) held.add(l);
    return f;
  };
  const waiting = [];
  const release = (f) => {
    if (!locksOf.get(f).length) return;
    for (const l of locksOf.get(f)) held.delete(l);
    for (const wake of waiting.splice(0)) wake();
  };
  const total = { passes: 0, failures: 0, pending: 0 };
  const skips = [];
  const failed = [];
  const times = [];
  const lane = () =>
    new Promise((resolve) => {
      const worker = fork(path.join(root, 'scripts/test-worker.mjs'), [], {
        execArgv: ['--import', 'tsx'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      let current;
      let output = '';
      let started = 0;
      const next = () => {
        if (current) release(current);
        current = take();
        if (!current && queue.length) {
          // Only engine files are left and another lane has the engine: wait for it.
          waiting.push(next);
          return;
        }
        if (!current) {
          worker.kill();
          return resolve();
        }
        output = '';
        started = Date.now();
        worker.send({ type: 'run', file: current, grep });
      };
      worker.on('message', (msg) => {
        if (msg.type === 'ready') next();
        else if (msg.type === 'output') output += msg.text;
        else if (msg.type === 'done') {
          process.stdout.write(output);
          times.push([Date.now() - started, path.relative(root, msg.file)]);
          total.passes += msg.passes;
          total.failures += msg.failures;
          total.pending += msg.pending;
          skips.push(...msg.skips);
          failed.push(...msg.failed.map((f) => `${path.relative(root, msg.file)}: ${f}`));
          next();
        }
      });
      worker.on('exit', (code, signal) => {
        if (!current) return;
        // A test that killed its own process: what it printed, then the file counts as failed.
        const ended = `${path.relative(root, current)}: the test process ended (${signal ?? `exit ${code}`})`;
        process.stdout.write(`${output}\n  ✗ ${ended}\n`);
        failed.push(ended);
        total.failures += 1;
        release(current);
        current = undefined;
        lane().then(resolve);
      });
    });
  await Promise.all(Array.from({ length: n }, lane));
  times.sort((a, b) => b[0] - a[0]);
  writeTimes(last, times);
  console.log(`\nSlowest files (${n} lanes):`);
  for (const [ms, f] of times.slice(0, 12)) console.log(`  ${(ms / 1000).toFixed(1).padStart(6)} s  ${f}`);
  finish(total, skips, failed);
}

/** Each file's duration in ms at its last run here; {} when there was none. */
function readTimes() {
  try {
    return JSON.parse(fs.readFileSync(TIMES, 'utf8'));
  } catch {
    return {};
  }
}

function writeTimes(last, times) {
  fs.mkdirSync(path.dirname(TIMES), { recursive: true });
  fs.writeFileSync(TIMES, JSON.stringify({ ...last, ...Object.fromEntries(times.map(([ms, f]) => [f, ms])) }, null, 1) + '\n');
}
