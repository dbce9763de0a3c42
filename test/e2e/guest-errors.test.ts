import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { BIN, appRepo, push, tmpdir, useServer } from './harness.js';
import { requires } from '../support/requires.js';

/** What an operator sees when guests cannot be made as asked: one line, never apps running as root. */
describe('e2e: guest settings that cannot work', function () {
  this.timeout(180_000);
  requires('guests');
  // A range of one uid: the first app takes it, the second has none left.
  const env = useServer({ env: { SLIPWAY_GUEST_UIDS: '90000-90000' } });

  it('fails the deploy of an app that gets no uid, with the flag that widens the range, and keeps the first app serving', async () => {
    const server = env.server;
    for (const app of ['first', 'second']) expect(server.cli(['apps:create', app]).code).to.equal(0);
    const ok = await push(appRepo('procfile-hello'), server.sshRemote('first'), { sshCommand: env.key.sshCommand });
    expect(ok.code, ok.stderr).to.equal(0);
    const refused = await push(appRepo('procfile-hello'), server.sshRemote('second'), { sshCommand: env.key.sshCommand });
    expect(refused.stderr).to.contain('no free uid left in 90000-90000 for second').and.contain('--guest-uids');
    expect((await server.get('first')).status).to.equal(200);
    expect((await server.get('second')).status).to.not.equal(200);
  });

  it('refuses to start with a uid range it cannot use, in one line', () => {
    const home = tmpdir('home');
    const r = spawnSync(BIN, ['server'], {
      env: { ...process.env, SLIPWAY_HOME: home, SLIPWAY_GUEST_UIDS: '5000-10' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status).to.not.equal(0);
    expect(r.stderr).to.contain('invalid guest uid range 5000-10');
  });
});
