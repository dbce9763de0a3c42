// Runs the whole mocha suite and ends with the one line CI reads:
// "N passed, N failed". Run through `node --import tsx` so tests are TypeScript.
import Mocha from 'mocha';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(new URL('..', import.meta.url).pathname);
const only = process.argv.slice(2);
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

const mocha = new Mocha({ reporter: 'spec', timeout: 60_000, slow: 10_000 });
for (const f of files) if (!only.length || only.some((o) => f.includes(o))) mocha.addFile(f);
await mocha.loadFilesAsync();
const runner = mocha.run();
runner.on('end', () => {
  const s = runner.stats ?? { passes: 0, failures: 0, pending: 0 };
  const pending = s.pending ? `, ${s.pending} skipped` : '';
  console.log(`\n${s.passes} passed, ${s.failures} failed${pending}`);
  process.exitCode = s.failures > 0 || s.passes === 0 ? 1 : 0;
});
