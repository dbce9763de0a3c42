import { expect } from 'chai';
import { DEFAULT_RETRY, retryDelay, retrySchedule } from '../../src/notify/retry.js';

describe('notify/retry', () => {
  it('defaults to 5 attempts with waits of 1 s, 2 s, 4 s and 8 s between them', () => {
    expect(DEFAULT_RETRY).to.deep.equal({ attempts: 5, baseDelayMs: 1000 });
    expect(retrySchedule(DEFAULT_RETRY)).to.deep.equal([1000, 2000, 4000, 8000]);
  });

  it('gives the wait after each failed attempt, and none after the last', () => {
    const p = { attempts: 3, baseDelayMs: 50 };
    expect(retryDelay(p, 1)).to.equal(50);
    expect(retryDelay(p, 2)).to.equal(100);
    expect(retryDelay(p, 3)).to.equal(undefined);
    expect(retryDelay(p, 4)).to.equal(undefined);
  });

  it('a single attempt never retries', () => {
    expect(retrySchedule({ attempts: 1, baseDelayMs: 1000 })).to.deep.equal([]);
  });
});
