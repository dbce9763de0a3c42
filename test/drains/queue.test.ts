import { expect } from 'chai';
import { DropOldestQueue } from '../../src/drains/queue.js';

describe('drains/queue', () => {
  const queue = (maxItems: number, maxBytes = Infinity) => new DropOldestQueue<string>({ maxItems, maxBytes, size: (s) => s.length });

  it('is bounded by count: a push into a full queue drops the oldest, and counts it', () => {
    const q = queue(3);
    for (const s of ['a', 'b', 'c']) expect(q.push(s)).to.equal(0);
    expect(q.push('d')).to.equal(1);
    expect(q.push('e')).to.equal(1);
    expect(q.length).to.equal(3);
    expect(q.dropped).to.equal(2);
    expect(q.take(10)).to.deep.equal(['c', 'd', 'e']);
    expect(q.length).to.equal(0);
  });

  it('is bounded by bytes: old items go until the new one fits; one larger than the queue is dropped itself', () => {
    const q = queue(100, 10);
    q.push('aaaa');
    q.push('bbbb');
    expect(q.push('cccccc')).to.equal(1);
    expect(q.bytes).to.equal(10);
    expect(q.push('x'.repeat(11))).to.equal(1);
    expect(q.take(10)).to.deep.equal(['bbbb', 'cccccc']);
    expect(q.dropped).to.equal(2);
    expect(q.bytes).to.equal(0);
  });

  it('takes in order, by count and by bytes (at least one item)', () => {
    const q = queue(100);
    for (const s of ['aa', 'bb', 'cc', 'dddddd']) q.push(s);
    expect(q.take(2)).to.deep.equal(['aa', 'bb']);
    expect(q.take(10, 3)).to.deep.equal(['cc']);
    expect(q.take(10, 3)).to.deep.equal(['dddddd']);
  });

  it('stays bounded and in order through a long flood', () => {
    const q = queue(1000);
    for (let i = 0; i < 100_000; i++) q.push(String(i));
    expect(q.length).to.equal(1000);
    expect(q.dropped).to.equal(99_000);
    const all = q.take(1000);
    expect(all[0]).to.equal('99000');
    expect(all.at(-1)).to.equal('99999');
  });
});
