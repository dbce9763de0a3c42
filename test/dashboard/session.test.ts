import { expect } from 'chai';
import { checkCsrf, csrfFor, type DashboardSession } from '../../src/dashboard/session.js';

describe('dashboard: CSRF tokens', () => {
  const session = (token: string) => ({ token, csrf: csrfFor(token) }) as DashboardSession;

  it("accepts the session's own token and refuses none, another session's or a near miss", () => {
    const s = session('slp_one');
    expect(() => checkCsrf(s, csrfFor('slp_one'))).not.to.throw();
    for (const sent of [undefined, '', csrfFor('slp_two'), `${s.csrf}x`, s.csrf.slice(1), ['a']]) {
      expect(() => checkCsrf(s, sent), String(sent)).to.throw(/not sent from your dashboard session/);
    }
  });

  it('never puts the session token itself in the form', () => {
    expect(csrfFor('slp_secret')).not.to.include('slp_secret');
    expect(csrfFor('slp_secret')).to.match(/^[A-Za-z0-9_-]{43}$/);
  });
});
