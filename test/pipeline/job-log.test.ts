import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { followJobLog, JobLog, MAX_JOB_LOG_CHARS, writeInto } from '../../src/pipeline/job-log.js';

const tmpFile = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-joblog-')), 'job.log');

describe('pipeline/job-log', () => {
  it('gives a follower every line in order, from before it came to the close, at its own pace', async () => {
    const log = new JobLog(tmpFile());
    log.stage('Building');
    for (let i = 0; i < 1000; i++) log.info(`early ${i}`);
    let got = '';
    let calls = 0;
    const following = followJobLog({
      file: log.file,
      live: log,
      // A slow client: every chunk takes a while to go out.
      onData: async (chunk) => {
        calls++;
        got += chunk;
        await sleep(5);
      },
    });
    for (let i = 0; i < 20_000; i++) log.info(`late ${i} ${'x'.repeat(40)}`);
    await sleep(20);
    log.error('done');
    log.close();
    await following;
    const lines = got.trimEnd().split('\n');
    expect(lines[0]).to.equal('-----> Building');
    expect(lines.filter((l) => l.startsWith('       early '))).to.have.length(1000);
    const late = lines.filter((l) => l.startsWith('       late ')).map((l) => Number(l.split(' ')[8]));
    expect(late).to.deep.equal(Array.from({ length: 20_000 }, (_, i) => i));
    expect(lines[lines.length - 1]).to.equal(' !     done');
    // Read in chunks, not handed over whole.
    expect(calls).to.be.above(10);
    expect(got).to.equal(fs.readFileSync(log.file, 'utf8'));
  });

  it('reads a finished log once, and stops early when the follower goes away', async () => {
    const log = new JobLog(tmpFile());
    for (let i = 0; i < 50_000; i++) log.line(`line ${i}`);
    log.close();
    let whole = '';
    await followJobLog({ file: log.file, onData: (c) => void (whole += c) });
    expect(whole.split('\n')).to.have.length(50_001);

    const live = new JobLog(tmpFile());
    live.line('first');
    const gone = new AbortController();
    let seen = '';
    const following = followJobLog({ file: live.file, live, signal: gone.signal, onData: (c) => void (seen += c) });
    await sleep(20);
    gone.abort();
    await following; // ends without the log being closed
    expect(seen).to.equal('first\n');
    live.close();
  });

  it('masks secrets in what it writes', async () => {
    const log = new JobLog(tmpFile());
    log.mask({ mask: (t) => t.split('s3cret').join('********') });
    log.info('TOKEN=s3cret');
    log.close();
    expect(fs.readFileSync(log.file, 'utf8')).to.equal('       TOKEN=********\n');
  });

  it('writeInto waits for a full stream to drain', async () => {
    const out = new PassThrough({ highWaterMark: 16 });
    const write = writeInto(out);
    expect(write('a')).to.equal(undefined);
    const waiting = write('b'.repeat(64));
    expect(waiting).to.be.instanceOf(Promise);
    let done = false;
    void (waiting as Promise<void>).then(() => (done = true));
    await sleep(10);
    expect(done).to.equal(false);
    out.read();
    await sleep(10);
    expect(done).to.equal(true);
  });

  it('stops writing build output past its size limit, counts what it dropped, and still writes its own lines', async () => {
    const log = new JobLog(tmpFile());
    const line = 'y'.repeat(1023);
    const total = MAX_JOB_LOG_CHARS / 1024 + 5000;
    for (let i = 0; i < total; i++) log.line(line);
    log.stage('Releasing');
    log.line('after the stage');
    log.close();
    const text = fs.readFileSync(log.file, 'utf8');
    expect(text.length).to.be.below(MAX_JOB_LOG_CHARS + 1024);
    const lines = text.trimEnd().split('\n');
    const kept = lines.filter((l) => l === line).length;
    const markers = lines.map((l) => /^ {7}\[slipway: (\d+) lines? dropped\]/.exec(l)).filter((m) => m !== null);
    expect(markers).to.have.length(2);
    // Every line is accounted for: written, or counted (the one after the stage too).
    expect(kept + Number(markers[0]![1]) + Number(markers[1]![1])).to.equal(total + 1);
    expect(lines[lines.length - 2]).to.equal('-----> Releasing');
    expect(lines[lines.length - 1]).to.match(/\[slipway: 1 line dropped\]/);
  });
});
