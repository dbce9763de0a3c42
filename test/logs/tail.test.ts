import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { lineFilter, parseProcessFilter } from '../../src/logs/filter.js';
import { closeCursor, readTail } from '../../src/logs/tail.js';

const lines = (from: number, to: number, tag = 'web.1') =>
  Array.from({ length: to - from + 1 }, (_, i) => `2026-01-01T00:00:00.000Z ${tag}: line ${from + i}`);

describe('logs/tail', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-tail-'));
    file = path.join(dir, 'app.log');
  });

  it('returns the last N lines, oldest first, and a cursor at the end', async () => {
    fs.writeFileSync(file, lines(1, 10).join('\n') + '\n');
    const { lines: got, cursor } = await readTail({ file, lines: 3 });
    await closeCursor(cursor);
    expect(got).to.deep.equal(lines(8, 10));
    expect(cursor.offset).to.equal(fs.statSync(file).size);
  });

  it('reads across chunk boundaries (lines longer than a chunk too)', async () => {
    const long = 'x'.repeat(200_000);
    const all = [...lines(1, 5000), `2026-01-01T00:00:00.000Z web.1: ${long}`, ...lines(5001, 5002)];
    fs.writeFileSync(file, all.join('\n') + '\n');
    const { lines: got, cursor } = await readTail({ file, lines: 2000 });
    await closeCursor(cursor);
    expect(got).to.deep.equal(all.slice(-2000));
  });

  it('leaves a trailing partial line to the follower: the cursor stops before it', async () => {
    fs.writeFileSync(file, lines(1, 3).join('\n') + '\n2026-01-01T00:00:00.000Z web.1: half');
    const { lines: got, cursor } = await readTail({ file, lines: 10 });
    await closeCursor(cursor);
    expect(got).to.deep.equal(lines(1, 3));
    expect(cursor.offset).to.equal(Buffer.byteLength(lines(1, 3).join('\n') + '\n'));
  });

  it('goes on into the rotated files, newest first, when the live file is short', async () => {
    fs.writeFileSync(`${file}.2`, lines(1, 5).join('\n') + '\n');
    fs.writeFileSync(`${file}.1`, lines(6, 8).join('\n') + '\n');
    fs.writeFileSync(file, lines(9, 10).join('\n') + '\n');
    const { lines: got, cursor } = await readTail({ file, lines: 7 });
    await closeCursor(cursor);
    expect(got).to.deep.equal(lines(4, 10));
    const everything = await readTail({ file, lines: 100 });
    await closeCursor(everything.cursor);
    expect(everything.lines).to.deep.equal(lines(1, 10));
  });

  it('counts only lines that pass the filter', async () => {
    const mixed = [...lines(1, 3, 'web.1'), ...lines(4, 6, 'web.2'), ...lines(7, 9, 'slipway[web.1]'), ...lines(10, 12, 'worker.1')];
    fs.writeFileSync(file, mixed.join('\n') + '\n');
    const { lines: got, cursor } = await readTail({ file, lines: 4, keep: lineFilter(parseProcessFilter('web.1')) });
    await closeCursor(cursor);
    expect(got).to.deep.equal([...lines(3, 3, 'web.1'), ...lines(7, 9, 'slipway[web.1]')]);
  });

  it('treats a missing log as empty, and -n 0 as nothing', async () => {
    const none = await readTail({ file, lines: 10 });
    expect(none.lines).to.deep.equal([]);
    expect(none.cursor.handle).to.equal(undefined);
    fs.writeFileSync(file, lines(1, 3).join('\n') + '\n');
    const zero = await readTail({ file, lines: 0 });
    await closeCursor(zero.cursor);
    expect(zero.lines).to.deep.equal([]);
    expect(zero.cursor.offset).to.equal(fs.statSync(file).size);
  });
});
