import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { LogWriter } from '../../src/logs/log-writer.js';

const LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (web\.1|slipway\[web\.1\]): (.*)$/;

/**
 * The log file is a FIFO the test reads, so the test decides how fast the
 * writer's disk is: while nobody reads, every write to the "file" blocks.
 */
function fifoLog(): { file: string; reader: Readable; text: () => Promise<string> } {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-flow-')), 'app.log');
  const made = spawnSync('mkfifo', [file]);
  if (made.status !== 0) throw new Error(`mkfifo failed: ${made.stderr}`);
  const reader = fs.createReadStream(file);
  reader.pause();
  const text = () =>
    new Promise<string>((resolve, reject) => {
      let out = '';
      reader.setEncoding('utf8');
      reader.on('data', (d) => (out += String(d)));
      reader.on('end', () => resolve(out));
      reader.on('error', reject);
      reader.resume();
    });
  return { file, reader, text };
}

/** Bytes a process has written so far (all of its write(2) calls). */
function bytesWritten(pid: number): number {
  const io = fs.readFileSync(`/proc/${pid}/io`, 'utf8');
  return Number(/^wchar: (\d+)$/m.exec(io)![1]);
}

describe('logs/log-writer: flow control', function () {
  this.timeout(30_000);

  it('stops reading a flooding process while its log cannot be written, then catches up without losing a line', async () => {
    const log = fifoLog();
    const writer = new LogWriter({ file: log.file, name: 'web.1', maxBytes: 1 << 30 });
    const yes = spawn('yes', ['flood'], { stdio: ['ignore', 'pipe', 'ignore'] });
    writer.attach(yes.stdout);
    await sleep(1000);
    // Nobody read the log for a second: `yes` is stuck in write(2) after a few
    // chunks. Without backpressure it would have written hundreds of MB by now.
    const stuck = bytesWritten(yes.pid!);
    expect(stuck).to.be.below(2 * 1024 * 1024);
    await sleep(300);
    expect(bytesWritten(yes.pid!) - stuck).to.be.below(256 * 1024);

    const reading = log.text();
    await sleep(500);
    const produced = bytesWritten(yes.pid!);
    yes.kill();
    await new Promise((r) => yes.once('close', r));
    await writer.close();
    const lines = (await reading).trimEnd().split('\n');
    // Every line `yes` wrote made it, stamped and whole: nothing was dropped.
    expect(lines.length).to.be.above(10_000);
    expect(lines.length).to.be.at.least(Math.floor(produced / 'flood\n'.length));
    for (const l of [lines[0]!, lines[lines.length - 1]!, lines[Math.floor(lines.length / 2)]!]) expect(l).to.match(LINE);
    // The kill may cut `yes` short in the middle of its last line.
    expect(lines.slice(0, -1).filter((l) => !/ web\.1: flood$/.test(l))).to.deep.equal([]);
    expect('flood'.startsWith(LINE.exec(lines[lines.length - 1]!)![2]!)).to.equal(true);
  });

  it('counts and drops lines of a source that cannot be paused, then says how many were dropped', async () => {
    const log = fifoLog();
    const writer = new LogWriter({ file: log.file, name: 'web.1', maxBytes: 1 << 30 });
    // Like the container log demuxer: it writes whatever arrives, never waiting for 'drain'.
    const source = new PassThrough();
    writer.attach(source);
    const batch = Array.from({ length: 10_000 }, (_, i) => `line ${i}`).join('\n') + '\n';
    let fed = 0;
    let mostBuffered = 0;
    for (let i = 0; i < 300; i++) {
      source.write(batch);
      fed += 10_000;
      mostBuffered = Math.max(mostBuffered, source.readableLength + source.writableLength);
      await sleep(2);
    }
    // 300 batches of ~90 KB arrived while the log could not be written at all.
    expect(mostBuffered).to.be.below(4 * 1024 * 1024);
    const reading = log.text();
    source.end();
    await new Promise((r) => source.once('end', r));
    await writer.close();
    const lines = (await reading).trimEnd().split('\n');
    for (const l of lines) expect(l).to.match(LINE);
    const kept = lines.filter((l) => / web\.1: line \d+$/.test(l)).length;
    const markers = lines.map((l) => /slipway\[web\.1\]: \[slipway: (\d+) lines dropped\]$/.exec(l)).filter((m) => m !== null);
    expect(markers.length).to.be.above(0);
    const dropped = markers.reduce((n, m) => n + Number(m![1]), 0);
    expect(dropped).to.be.above(0);
    // Every line is accounted for: written, or counted in a marker.
    expect(kept + dropped).to.equal(fed);
  });

  it('writes a line that never ends in pieces instead of holding it whole', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-flow-')), 'app.log');
    const writer = new LogWriter({ file, name: 'web.1' });
    const source = new PassThrough();
    writer.attach(source);
    for (let i = 0; i < 40; i++) source.write('x'.repeat(10_000));
    await sleep(100);
    // 400 KB without a newline: already in the file, in 64 KiB pieces.
    const lines = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
    expect(lines.length).to.be.at.least(6);
    for (const l of lines) expect(LINE.exec(l)![2]).to.match(/^x{65536}$/);
    source.end();
    await writer.close();
  });

  it('holds an app to its log rate: a flood waits in its pipe instead of filling the disk', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-flow-')), 'app.log');
    const writer = new LogWriter({ file, name: 'web.1', rate: { bytesPerSecond: 256 * 1024, burstBytes: 64 * 1024 } });
    const yes = spawn('yes', ['flood'], { stdio: ['ignore', 'pipe', 'ignore'] });
    writer.attach(yes.stdout);
    await sleep(2000);
    const produced = bytesWritten(yes.pid!);
    const size = fs.statSync(file).size;
    yes.kill();
    await new Promise((r) => yes.once('close', r));
    await writer.close();
    // Two seconds at 256 KiB/s, plus the burst and one chunk's lines; unthrottled, hundreds of MB.
    expect(size).to.be.above(256 * 1024);
    expect(size).to.be.below(1536 * 1024);
    expect(produced).to.be.below(1024 * 1024);
    expect(fs.readFileSync(file, 'utf8')).to.not.include('dropped');
  });
});
