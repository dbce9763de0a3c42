// One lane of a parallel test run (scripts/test.mjs --jobs N): runs the test
// files the parent sends, one at a time, each with a fresh Mocha, and sends
// back its output and counts. Output goes over IPC rather than stdout so that
// the parent can print each file's report whole, in one piece, even when the
// lanes finish files at the same moment.
import Mocha from 'mocha';
import { skipLines } from '../test/support/requires.ts';

const send = (msg) => new Promise((resolve) => process.send(msg, resolve));
const write = (stream) => {
  const original = stream.write.bind(stream);
  stream.write = (chunk, encoding, cb) => {
    process.send({ type: 'output', text: String(chunk) });
    if (typeof encoding === 'function') encoding();
    else if (typeof cb === 'function') cb();
    return true;
  };
  return original;
};
write(process.stdout);
write(process.stderr);

process.on('message', async (msg) => {
  if (msg.type !== 'run') return;
  const mocha = new Mocha({ reporter: 'spec', timeout: 60_000, slow: 10_000, ...(msg.grep ? { grep: msg.grep } : {}) });
  mocha.addFile(msg.file);
  try {
    await mocha.loadFilesAsync();
  } catch (err) {
    process.send({ type: 'output', text: `cannot load ${msg.file}: ${err?.stack ?? err}\n` });
    await send({
      type: 'done',
      file: msg.file,
      passes: 0,
      failures: 1,
      pending: 0,
      skips: skipLines(),
      failed: [`cannot load: ${String(err?.message ?? err).split('\n')[0]}`],
    });
    return;
  }
  // The failed tests' titles and first error lines, for the recap at the end of the run:
  // CI shows its tail, and a failure scrolled away in 20 minutes of output is lost otherwise.
  const failed = [];
  const runner = mocha.run(async () => {
    const s = runner.stats ?? { passes: 0, failures: 0, pending: 0 };
    mocha.dispose();
    await send({ type: 'done', file: msg.file, passes: s.passes, failures: s.failures, pending: s.pending, skips: skipLines(), failed });
  });
  runner.on('fail', (test, err) => failed.push(recapOf(test, err)));
});
process.send({ type: 'ready' });

function recapOf(test, err) {
  const first = String(err?.message ?? err)
    .split('\n')
    .filter(Boolean)
    .slice(0, 3)
    .join(' | ');
  return `${test.fullTitle()}: ${first.slice(0, 400)}`;
}
