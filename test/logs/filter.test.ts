import { expect } from 'chai';
import { lineFilter, lineInstance, parseProcessFilter } from '../../src/logs/filter.js';

const T = '2026-11-21T23:59:59.123Z';

describe('logs/filter', () => {
  it("finds the instance of app lines and of Slipway's notes", () => {
    expect(lineInstance(`${T} web.1: listening on 5000`)).to.equal('web.1');
    expect(lineInstance(`${T} slipway[worker.12]: State changed from starting to up`)).to.equal('worker.12');
    expect(lineInstance(`${T} web.1:no-space`)).to.equal(undefined);
    expect(lineInstance('garbage')).to.equal(undefined);
  });

  it('filters by type (web) or by instance (web.1)', () => {
    const lines = [`${T} web.1: a`, `${T} web.2: b`, `${T} slipway[web.1]: c`, `${T} worker.1: d`, `${T} webby.1: e`, 'garbage'];
    expect(lines.filter(lineFilter(parseProcessFilter('web.1')))).to.deep.equal([`${T} web.1: a`, `${T} slipway[web.1]: c`]);
    expect(lines.filter(lineFilter(parseProcessFilter('web')))).to.deep.equal([`${T} web.1: a`, `${T} web.2: b`, `${T} slipway[web.1]: c`]);
    expect(lines.filter(lineFilter(undefined))).to.deep.equal(lines);
  });

  it('refuses a --ps that names no process', () => {
    for (const bad of ['', 'web.', 'web.x', '.1', 'web 1', 'a;b', 'web.1.2'])
      expect(() => parseProcessFilter(bad), bad).to.throw(/invalid --ps/);
  });
});
