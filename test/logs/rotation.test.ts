import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { LogWriter } from '../../src/logs/log-writer.js';
import { readTail, closeCursor } from '../../src/logs/tail.js';

const LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (web\.\d|slipway\[web\.\d\]): (.*)$/;

describe('logs/log-writer: rotation', () => {
  let file: string;
  beforeEach(() => {
    file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-rotate-')), 'logs', 'app.log');
  });

  it('rotates past maxBytes to FILE.1 … FILE.3, keeping whole lines and every writer on the new file', async () => {
    const writers = [1, 2, 3].map((i) => new LogWriter({ file, name: `web.${i}`, maxBytes: 2000, keep: 3 }));
    const streams = writers.map((w) => {
      const s = new PassThrough();
      w.attach(s);
      return s;
    });
    for (let n = 0; n < 300; n++) {
      streams[n % 3]!.write(`message ${n}\n`);
      if (n % 25 === 0) await new Promise((r) => setImmediate(r));
    }
    for (const s of streams) s.end();
    await new Promise((r) => setImmediate(r));
    await Promise.all(writers.map((w) => w.close()));

    const dir = path.dirname(file);
    // app.log itself is absent when the very last write filled it and rotated it away.
    expect(
      fs
        .readdirSync(dir)
        .filter((f) => f !== 'app.log')
        .sort(),
    ).to.deep.equal(['app.log.1', 'app.log.2', 'app.log.3']);
    for (const f of ['app.log.1', 'app.log.2', 'app.log.3']) {
      const size = fs.statSync(path.join(dir, f)).size;
      expect(size, f).to.be.at.least(2000);
      expect(size, f).to.be.below(2000 + 1500);
    }
    // Oldest to newest, every line whole, and each writer's messages in order.
    const text = ['app.log.3', 'app.log.2', 'app.log.1', 'app.log']
      .map((f) => (fs.existsSync(path.join(dir, f)) ? fs.readFileSync(path.join(dir, f), 'utf8') : ''))
      .join('');
    expect(text.endsWith('\n')).to.equal(true);
    const numbers = text
      .trimEnd()
      .split('\n')
      .map((l) => {
        const m = LINE.exec(l);
        expect(m, l).to.not.equal(null);
        return Number(/^message (\d+)$/.exec(m![2]!)![1]);
      });
    for (const w of [0, 1, 2]) {
      const mine = numbers.filter((n) => n % 3 === w);
      expect(mine).to.deep.equal([...mine].sort((a, b) => a - b));
    }
    expect(Math.max(...numbers)).to.equal(299);
    // The reader sees the newest lines across the rotated files.
    const tail = await readTail({ file, lines: 50 });
    await closeCursor(tail.cursor);
    expect(tail.lines.map((l) => Number(/message (\d+)$/.exec(l)![1]))).to.deep.equal(numbers.slice(-50));
  });

  it('writes every line of every writer before close resolves; a new writer after the last close reopens', async () => {
    const a = new LogWriter({ file, name: 'web.1', maxBytes: 10_000_000 });
    const b = new LogWriter({ file, name: 'web.2' });
    for (let i = 0; i < 100; i++) a.note(`a ${i}`);
    b.note('b');
    await a.close();
    expect(fs.readFileSync(file, 'utf8').match(/slipway\[web\.1\]: a \d+/g)).to.have.length(100);
    await b.close();
    expect(fs.readFileSync(file, 'utf8')).to.include('slipway[web.2]: b');
    fs.renameSync(file, `${file}.moved`);
    const c = new LogWriter({ file, name: 'web.1' });
    c.note('fresh');
    await c.close();
    expect(fs.readFileSync(file, 'utf8')).to.match(/^\S+ slipway\[web\.1\]: fresh\n$/);
  });

  it('reports write errors to onError instead of throwing', async () => {
    const errors: Error[] = [];
    const w = new LogWriter({ file, name: 'web.1', onError: (e) => errors.push(e) });
    fs.rmSync(path.dirname(file), { recursive: true });
    w.note('lost');
    await w.close();
    expect(errors).to.have.length.greaterThan(0);
  });
});
