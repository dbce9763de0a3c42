import cookie from '@fastify/cookie';
import { expect } from 'chai';
import Fastify from 'fastify';
import type { ApiContext } from '../../src/api/context.js';
import { checkCsrf, csrfFor, sessionOf, startSession, type DashboardSession } from '../../src/dashboard/session.js';

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

describe('dashboard: session cookies over HTTPS', () => {
  // Apps are served at sibling host names (APP.example.com); one of them can set a cookie for
  // the whole domain. Over HTTPS the dashboard's cookies are `__Host-` ones, which no other host may set.
  const KEY = 'router-key';
  const ctx = { routerKey: KEY, gateway: { userForToken: (t: string) => (t === 'slp_mine' ? { id: 1, name: 'me' } : undefined) } };
  const https = { 'x-slipway-router': KEY, 'x-forwarded-proto': 'https' };

  async function server() {
    const app = Fastify();
    await app.register(cookie);
    app.get('/start', async (req, reply) => {
      startSession(ctx as unknown as ApiContext, req, reply, 'slp_mine', 'dashboard');
      return 'ok';
    });
    app.get('/who', async (req) => ({ user: sessionOf(ctx as unknown as ApiContext, req)?.user.name ?? null }));
    return app;
  }

  it('sets __Host- cookies (Secure, Path=/, no Domain) and reads no cookie another host could have set', async () => {
    const app = await server();
    const started = await app.inject({ url: '/start', headers: https });
    const set = ([] as string[]).concat(started.headers['set-cookie'] ?? []);
    expect(
      set.some((c) => /^__Host-slipway_session=slp_mine;/.test(c) && /Secure/.test(c) && /Path=\//.test(c) && !/Domain/i.test(c)),
    ).to.equal(true);
    const own = await app.inject({ url: '/who', headers: { ...https, cookie: '__Host-slipway_session=slp_mine' } });
    expect(own.json()).to.deep.equal({ user: 'me' });
    const tossed = await app.inject({ url: '/who', headers: { ...https, cookie: 'slipway_session=slp_mine' } });
    expect(tossed.json()).to.deep.equal({ user: null });
    await app.close();
  });
});
