// Runs the mocha suite and ends with the one line CI reads:
// "N passed, N failed, M skipped". Run through `node --import tsx` so tests are
// TypeScript. Arguments: files or folders to run (any path containing one of
// them), and `--grep PATTERN` for the tests whose full title matches.
import Mocha from 'mocha';
import fs from 'node:fs';
import path from 'node:path';
import { requiredNeeds, skipLines } from '../test/support/requires.ts';

const root = path.resolve(new URL('..', import.meta.url).pathname);
const only = [];
let grep;
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--grep' || args[i] === '-g') grep = args[++i];
  else if (args[i].startsWith('--grep=')) grep = args[i].slice('--grep='.length);
  else only.push(args[i]);
}
if (grep === undefined && args.some((a) => a === '--grep' || a === '-g')) throw new Error('--grep needs a pattern');
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

const mocha = new Mocha({ reporter: 'spec', timeout: 60_000, slow: 10_000, ...(grep ? { grep } : {}) });
for (const f of files) if (!only.length || only.some((o) => f.includes(o))) mocha.addFile(f);
await mocha.loadFilesAsync();
const runner = mocha.run();
runner.on('end', () => {
  const s = runner.stats ?? { passes: 0, failures: 0, pending: 0 };
  const skips = skipLines();
  if (skips.length) console.log(`\n${skips.join('\n')}`);
  console.log(`\n${s.passes} passed, ${s.failures} failed, ${s.pending} skipped`);
  // A run that found no test at all is a mistake (a wrong path or pattern), not a success.
  process.exitCode = s.failures > 0 || s.passes + s.pending === 0 ? 1 : 0;
});
