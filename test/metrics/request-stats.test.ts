import { expect } from 'chai';
import { RequestStats } from '../../src/metrics/request-stats.js';
import { sparkline } from '../../src/dashboard/sparkline.js';

describe('metrics: the dashboard traffic window', () => {
  it('counts requests per 10 s window, the 5xx share and latency percentiles, per app', () => {
    let now = 1_000_000;
    const stats = new RequestStats(() => now);
    for (let i = 1; i <= 100; i++) stats.record('a', i % 10 === 0 ? 502 : 200, i);
    now += 10_000;
    for (let i = 0; i < 20; i++) stats.record('a', 200, 5);
    stats.record('b', 200, 1);
    const a = stats.summary('a');
    expect(a.total).to.equal(120);
    expect(a.rates.slice(-2)).to.deep.equal([10, 2]);
    expect(a.errorRate).to.equal(10 / 120);
    expect(a.p50).to.equal(41);
    expect(a.p95).to.equal(95);
    expect(stats.summary('b').total).to.equal(1);
    expect(stats.summary('none')).to.include({ total: 0, p50: null, p95: null, errorRate: 0 });
  });

  it('forgets windows older than five minutes', () => {
    let now = 0;
    const stats = new RequestStats(() => now);
    stats.record('a', 200, 1);
    now += 5 * 60_000;
    expect(stats.summary('a').total).to.equal(0);
  });

  it('draws a sparkline with only numbers of its own in it', () => {
    const svg = sparkline([0, 1, 2, 4]);
    expect(svg).to.match(/^<svg [^>]*role="img"/);
    expect(svg).to.include('now 4.0 req/s, peak 4.0 req/s');
    expect(svg).to.include('points="0.0,23.0');
  });
});
