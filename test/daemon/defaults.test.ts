import { expect } from 'chai';
import { serverCommand } from '../../src/cli/server.js';
import { SERVER_DEFAULTS as D } from '../../src/daemon/defaults.js';

describe('daemon/defaults', () => {
  it("is what `slipway server` flags default to, in the flags' units", () => {
    const flags = Object.fromEntries(serverCommand().options.map((o) => [o.attributeName(), o.defaultValue]));
    expect(flags).to.include({
      sshPort: D.sshPort,
      httpPort: D.httpPort,
      routerPort: D.routerPort,
      router: D.router,
      driver: D.driver,
      domain: D.domain,
      keepReleases: D.keepReleases,
      healthTimeout: D.healthTimeoutMs / 1000,
      stopGrace: D.stopGraceMs / 1000,
      webhookRetryMs: D.webhookRetryMs,
      egressAllow: '',
      egressConnectTimeout: D.egress.connectTimeoutMs / 1000,
      egressIdleTimeout: D.egress.idleTimeoutMs / 1000,
      egressTotalTimeout: D.egress.totalTimeoutMs / 1000,
      maxUploadMb: D.maxUploadBytes / 1024 / 1024,
      guests: 'on',
      guestUids: `${D.guestUids[0]}-${D.guestUids[1]}`,
    });
  });

  it('keeps the defaults the README documents', () => {
    expect(D).to.deep.include({
      sshPort: 2222,
      httpPort: 7000,
      routerPort: 8000,
      domain: 'localhost',
      router: 'auto',
      driver: 'process',
      keepReleases: 5,
      keepBackups: 5,
      healthTimeoutMs: 60_000,
      stopGraceMs: 30_000,
    });
    expect(D.guestUids).to.deep.equal([70000, 169999]);
    expect(D.egress).to.deep.equal({ allow: [], connectTimeoutMs: 10_000, idleTimeoutMs: 30_000, totalTimeoutMs: 600_000 });
    expect(D.maxUploadBytes).to.equal(1024 ** 3);
  });
});
