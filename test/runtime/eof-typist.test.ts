import { expect } from 'chai';
import { Duplex } from 'node:stream';
import { EofTypist } from '../../src/runtime/docker/exec.js';
import { until } from '../support/wait.js';

/** The engine's side of a docker exec with a TTY: what the daemon writes is recorded; output is pushed by the test. */
class Session extends Duplex {
  typed = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.typed += chunk.toString('latin1');
    cb();
  }
  override _read(): void {}
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('runtime/docker/exec: the end of input typed as ^D on a terminal the engine keeps', function () {
  this.timeout(20_000);

  it('waits for the output to rest, then types ^D, and again after a further quiet second', async () => {
    const session = new Session();
    const typist = new EofTypist(session);
    session.resume();
    try {
      typist.inputEnded();
      // Output keeps coming (a command runs): no ^D while it does, for less than the two seconds of the next test.
      for (let i = 0; i < 20; i++) {
        session.push('line\r\n');
        await sleep(50);
      }
      expect(session.typed).to.equal('');
      await until('the first ^D', () => session.typed === '\x04', 5000);
      await until('the second ^D', () => session.typed === '\x04\x04', 5000);
    } finally {
      typist.stop();
    }
  });

  it('types ^D even when the output never rests (a job in the background)', async () => {
    const session = new Session();
    const typist = new EofTypist(session);
    session.resume();
    const ticker = setInterval(() => session.push('tick\r\n'), 50);
    try {
      typist.inputEnded();
      await until('a ^D', () => session.typed === '\x04', 10_000);
    } finally {
      clearInterval(ticker);
      typist.stop();
    }
  });

  it('types nothing once stopped (the session ended)', async () => {
    const session = new Session();
    const typist = new EofTypist(session);
    session.resume();
    typist.inputEnded();
    typist.stop();
    await sleep(800);
    expect(session.typed).to.equal('');
  });
});
