import { expect } from 'chai';
import type http from 'node:http';
import { clientAddress } from '../../src/api/client-address.js';

/** A request as the API's server sees it: the socket's peer and the headers. */
const request = (remoteAddress: string, headers: Record<string, string>) =>
  ({ socket: { remoteAddress }, headers }) as unknown as http.IncomingMessage;

describe("api/client-address: whose address a request is, and when the router's word is believed", () => {
  const KEY = 'k'.repeat(43);

  it("takes the last X-Forwarded-For entry (the one the router appended) when the router's key comes with it", () => {
    const req = request('127.0.0.1', { 'x-slipway-router': KEY, 'x-forwarded-for': '203.0.113.7, 198.51.100.4' });
    expect(clientAddress(req, KEY)).to.equal('198.51.100.4');
  });

  it('keeps the socket address without the key, with a wrong key, without a key configured, or with no address forwarded', () => {
    const forged = { 'x-forwarded-for': '203.0.113.7' };
    expect(clientAddress(request('::ffff:127.0.0.1', forged), KEY)).to.equal('127.0.0.1');
    expect(clientAddress(request('127.0.0.1', { ...forged, 'x-slipway-router': 'guess' }), KEY)).to.equal('127.0.0.1');
    expect(clientAddress(request('127.0.0.1', { ...forged, 'x-slipway-router': `${KEY}x` }), KEY)).to.equal('127.0.0.1');
    expect(clientAddress(request('10.0.0.9', { ...forged, 'x-slipway-router': KEY }), undefined)).to.equal('10.0.0.9');
    expect(clientAddress(request('127.0.0.1', { 'x-slipway-router': KEY, 'x-forwarded-for': 'not-an-ip' }), KEY)).to.equal('127.0.0.1');
  });
});
