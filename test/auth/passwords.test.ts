import { expect } from 'chai';
import { checkPassword, hashPassword, verifyPassword } from '../../src/auth/passwords.js';
import { LoginThrottle } from '../../src/auth/throttle.js';

describe('auth/passwords', () => {
  it('stores scrypt with a salt of its own per hash, and verifies only the right password', async () => {
    const a = await hashPassword('correct horse battery');
    const b = await hashPassword('correct horse battery');
    expect(a).to.match(/^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(a).to.not.equal(b);
    expect(await verifyPassword('correct horse battery', a)).to.equal(true);
    expect(await verifyPassword('correct horse batterY', a)).to.equal(false);
    expect(await verifyPassword('', a)).to.equal(false);
  });

  it('answers false for a user without a password or with a damaged hash', async () => {
    expect(await verifyPassword('anything at all', null)).to.equal(false);
    expect(await verifyPassword('anything at all', 'plain-text')).to.equal(false);
  });

  it('refuses passwords that are too short, saying so', () => {
    expect(() => checkPassword('short')).to.throw(/shorter than 8 characters/);
    expect(checkPassword('long enough')).to.equal('long enough');
  });
});

describe('auth/throttle', () => {
  it('locks an address and name after five failures, doubling the wait, and forgets on success', () => {
    const t = new LoginThrottle({ baseLockMs: 1000, maxLockMs: 4000 });
    const at = 1_000_000;
    for (let i = 0; i < 4; i++) t.failed('10.0.0.1', 'pat', at);
    expect(t.waitMs('10.0.0.1', 'pat', at)).to.equal(0);
    t.failed('10.0.0.1', 'pat', at);
    expect(t.waitMs('10.0.0.1', 'pat', at)).to.equal(1000);
    // Another address, or another name, is not affected.
    expect(t.waitMs('10.0.0.2', 'pat', at)).to.equal(0);
    expect(t.waitMs('10.0.0.1', 'sam', at)).to.equal(0);
    t.failed('10.0.0.1', 'PAT', at);
    expect(t.waitMs('10.0.0.1', 'pat', at)).to.equal(2000);
    for (let i = 0; i < 5; i++) t.failed('10.0.0.1', 'pat', at);
    expect(t.waitMs('10.0.0.1', 'pat', at)).to.equal(4000);
    expect(t.waitMs('10.0.0.1', 'pat', at + 4000)).to.equal(0);
    t.succeeded('10.0.0.1', 'pat');
    t.failed('10.0.0.1', 'pat', at);
    expect(t.waitMs('10.0.0.1', 'pat', at)).to.equal(0);
  });

  it('forgets failures older than its window', () => {
    const t = new LoginThrottle({ windowMs: 60_000 });
    for (let i = 0; i < 4; i++) t.failed('10.0.0.1', 'pat', 0);
    t.failed('10.0.0.1', 'pat', 120_000);
    expect(t.waitMs('10.0.0.1', 'pat', 120_000)).to.equal(0);
  });
});
