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
    await send({ type: 'done', file: msg.file, passes: 0, failures: 1, pending: 0, skips: skipLines() });
    return;
  }
  const runner = mocha.run(async () => {
    const s = runner.stats ?? { passes: 0, failures: 0, pending: 0 };
    mocha.dispose();
    await send({ type: 'done', file: msg.file, passes: s.passes, failures: s.failures, pending: s.pending, skips: skipLines() });
  });
});
process.send({ type: 'ready' });
