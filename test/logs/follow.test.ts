import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { followLog } from '../../src/logs/follow.js';
import { readTail } from '../../src/logs/tail.js';
import { until } from '../support/wait.js';

describe('logs/follow', () => {
  let file: string;
  let got: string[];
  let stop: AbortController;
  let done: Promise<void>;
  beforeEach(() => {
    file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-follow-')), 'app.log');
    got = [];
    stop = new AbortController();
  });
  afterEach(async () => {
    stop.abort();
    await done;
  });
  const follow = (cursor?: Awaited<ReturnType<typeof readTail>>['cursor']) => {
    done = followLog({ file, cursor, signal: stop.signal, pollMs: 50, onLines: (l) => void got.push(...l) });
  };

  it('continues exactly where the tail stopped, and joins a line written in pieces', async () => {
    fs.writeFileSync(file, 'one\ntwo\nhal');
    const tail = await readTail({ file, lines: 10 });
    expect(tail.lines).to.deep.equal(['one', 'two']);
    follow(tail.cursor);
    fs.appendFileSync(file, 'f\nthree\n');
    await until('half and three', () => got.length === 2);
    expect(got).to.deep.equal(['half', 'three']);
  });

  it('waits for a file that does not exist yet', async () => {
    follow();
    await new Promise((r) => setTimeout(r, 100));
    fs.writeFileSync(file, 'first\n');
    await until('first', () => got.length === 1);
    expect(got).to.deep.equal(['first']);
  });

  it('follows a rotation: the rest of the old file, then the new one from its start', async () => {
    fs.writeFileSync(file, 'old 1\n');
    follow();
    await new Promise((r) => setTimeout(r, 100));
    fs.appendFileSync(file, 'old 2\n');
    // Renamed before the follower saw "old 2": it must still read it from the renamed file.
    fs.renameSync(file, `${file}.1`);
    fs.writeFileSync(file, 'new 1\n');
    await until('old 2 and new 1', () => got.length === 2);
    fs.appendFileSync(file, 'new 2\n');
    await until('new 2', () => got.length === 3);
    expect(got).to.deep.equal(['old 2', 'new 1', 'new 2']);
  });

  it('starts over when the file is truncated in place', async () => {
    fs.writeFileSync(file, 'a long first line\n');
    follow();
    await new Promise((r) => setTimeout(r, 100));
    fs.truncateSync(file, 0);
    await new Promise((r) => setTimeout(r, 150));
    fs.appendFileSync(file, 'after\n');
    await until('after', () => got.length === 1);
    expect(got).to.deep.equal(['after']);
  });

  it('ends when aborted, and waits on a slow consumer', async () => {
    let release!: () => void;
    const calls: string[][] = [];
    // Start from a known position, so the first line cannot land before the follow looks.
    fs.writeFileSync(file, '');
    const { cursor } = await readTail({ file, lines: 0 });
    done = followLog({
      file,
      cursor,
      signal: stop.signal,
      pollMs: 50,
      onLines: (l) => {
        calls.push(l);
        return new Promise<void>((r) => (release = r));
      },
    });
    fs.appendFileSync(file, 'x\n');
    await until('first batch', () => calls.length === 1);
    fs.appendFileSync(file, 'y\n');
    // While the consumer has not finished the first batch, no second one is handed over.
    await new Promise((r) => setTimeout(r, 150));
    expect(calls).to.have.length(1);
    release();
    await until('second batch', () => calls.length === 2);
    release();
    stop.abort();
    await done;
  });
});
