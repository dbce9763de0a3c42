import { expect } from 'chai';
import { checkTransport, isLoopback } from '../../src/cli/transport.js';

describe('cli/transport: where the remote CLI may send a token in clear', () => {
  it('counts 127.0.0.0/8, ::1 and localhost as this machine, nothing else', () => {
    for (const host of [
      '127.0.0.1',
      '127.1.2.3',
      '[::1]',
      '::1',
      'localhost',
      'LOCALHOST',
      '::ffff:127.0.0.1',
      new URL('http://[::ffff:127.0.0.1]/').hostname,
    ])
      expect(isLoopback(host), host).to.equal(true);
    for (const host of ['192.0.2.1', '10.0.0.1', 'localhost.example.com', 'paas.test', '[::2]', '0.0.0.0'])
      expect(isLoopback(host), host).to.equal(false);
  });

  it('refuses http:// to another host unless insecure; https and loopback pass', () => {
    expect(() => checkTransport('http://192.0.2.1:7000', {})).to.throw(
      /^refusing to send a token to http:\/\/192\.0\.2\.1:7000 over plain http:\/\//,
    );
    expect(() => checkTransport('http://paas.test', {}, 'a password')).to.throw(/^refusing to send a password to http:\/\/paas\.test /);
    expect(() => checkTransport('http://192.0.2.1:7000', { insecure: true })).to.not.throw();
    expect(() => checkTransport('https://192.0.2.1:7000', {})).to.not.throw();
    expect(() => checkTransport('http://127.0.0.1:7000', {})).to.not.throw();
  });
});
