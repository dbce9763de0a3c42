import { expect } from 'chai';
import { BuiltinRouter } from '../../src/router/builtin.js';
import { PLATFORM_ROUTE, type AppCertificate, type RouterEngine } from '../../src/router/engine.js';
import { PlatformRouter, apiUrlOf, loopbackFor, platformCertificate } from '../../src/daemon/platform-route.js';

/** The certificates the engine was last given: what the wrapper publishes. */
function recording(inner: BuiltinRouter): { engine: RouterEngine; published: () => AppCertificate[] } {
  let last: AppCertificate[] = [];
  // The engine would parse the PEM; these are stand-ins, so the list is only recorded.
  inner.setCertificates = async (certs) => {
    last = certs;
  };
  return { engine: inner, published: () => last };
}

describe("daemon/platform-route: the server's own route rides along with the apps', unseen by them", () => {
  const API_CERT = { chain: 'API-CHAIN', key: 'API-KEY' };

  it('routes the API domain to the API with the router key, and hides that route from app code', async () => {
    const inner = new BuiltinRouter();
    const router = new PlatformRouter(inner, { domain: 'paas.test', routerKey: 'KEY' });
    await router.routeApi({ host: '127.0.0.1', port: 7000 });
    await router.setRoute({ app: 'web', hosts: ['web.localhost'], backends: [] });
    expect(inner.routes().find((r) => r.app === PLATFORM_ROUTE)).to.deep.equal({
      app: PLATFORM_ROUTE,
      hosts: ['paas.test'],
      backends: [{ id: `${PLATFORM_ROUTE}.api`, host: '127.0.0.1', port: 7000 }],
      headers: { 'X-Slipway-Router': 'KEY' },
    });
    expect(router.routes().map((r) => r.app)).to.deep.equal(['web']);
    // An app cannot take the API domain: the engine refuses a host another route serves.
    const err = await router.setRoute({ app: 'thief', hosts: ['paas.test'], backends: [] }).catch((e: Error) => e);
    expect((err as Error).message).to.equal(`paas.test is already served by ${PLATFORM_ROUTE}`);
    expect(await router.removeRoute(PLATFORM_ROUTE).catch((e: Error) => e.message)).to.equal(`${PLATFORM_ROUTE} is the server's own route`);
    expect(inner.routes().map((r) => r.app)).to.include(PLATFORM_ROUTE);
  });

  it("publishes the API certificate with every change of the apps' certificates, and a new one at once", async () => {
    const { engine, published } = recording(new BuiltinRouter());
    const router = new PlatformRouter(engine, { domain: 'paas.test', routerKey: 'KEY', certificate: API_CERT });
    const app = { app: 'web', chain: 'C', key: 'K' };
    await router.setCertificates([app]);
    expect(published()).to.deep.equal([app, { app: PLATFORM_ROUTE, ...API_CERT }]);
    // An app's list never replaces the platform's, even one naming the platform route.
    await router.setCertificates([{ app: PLATFORM_ROUTE, chain: 'FORGED', key: 'FORGED' }]);
    expect(published()).to.deep.equal([{ app: PLATFORM_ROUTE, ...API_CERT }]);
    await router.setPlatformCertificate({ chain: 'ACME-CHAIN', key: 'ACME-KEY' });
    expect(published()).to.deep.equal([{ app: PLATFORM_ROUTE, chain: 'ACME-CHAIN', key: 'ACME-KEY' }]);
    await router.setPlatformCertificate(undefined);
    expect(published()).to.deep.equal([]);
  });

  it('adds nothing without --api-domain', async () => {
    const { engine, published } = recording(new BuiltinRouter());
    const router = new PlatformRouter(engine, { routerKey: 'KEY', certificate: API_CERT });
    await router.routeApi({ host: '127.0.0.1', port: 7000 });
    await router.setCertificates([]);
    expect(engine.routes()).to.deep.equal([]);
    expect(published()).to.deep.equal([]);
  });

  it('reaches the API on loopback for a wildcard bind, and names the URL by the certificate', () => {
    expect(['0.0.0.0', '::', '10.0.0.5'].map(loopbackFor)).to.deep.equal(['127.0.0.1', '::1', '10.0.0.5']);
    expect(apiUrlOf('paas.test', 443, 80)).to.equal('https://paas.test');
    expect(apiUrlOf('paas.test', 8443, 8000)).to.equal('https://paas.test:8443');
    expect(apiUrlOf('paas.test', undefined, 8000)).to.equal('http://paas.test:8000');
  });

  it('takes --api-cert acme only with --api-domain and without --api-key, one line each', () => {
    expect(platformCertificate({ apiCert: 'acme' }, 'paas.test')).to.equal(undefined);
    expect(() => platformCertificate({ apiCert: 'acme' }, undefined)).to.throw(/--api-cert acme needs --api-domain/);
    expect(() => platformCertificate({ apiCert: 'acme', apiKey: 'key.pem' }, 'paas.test')).to.throw(/--api-cert acme takes no --api-key/);
    expect(() => platformCertificate({ apiCert: 'cert.pem' }, 'paas.test')).to.throw(/--api-cert and --api-key go together/);
  });
});
