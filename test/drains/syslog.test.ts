import { expect } from 'chai';
import { routerLine } from '../../src/drains/router-line.js';
import { octetFrame, parseLogChunk, rfc5424 } from '../../src/drains/syslog.js';
import { parseOctetFrames } from './receivers.js';

describe('drains/syslog', () => {
  const rec = { time: '2026-11-30T01:02:03.456Z', procid: 'web.1', own: false, msg: 'héllo wörld ✓ 🚀 日本語' };

  it('writes an RFC 5424 message: PRI, version, time, host, app, procid, msgid, no structured data', () => {
    expect(rfc5424(rec, 'shop', 'box')).to.equal('<190>1 2026-11-30T01:02:03.456Z box shop web.1 - - héllo wörld ✓ 🚀 日本語');
    expect(rfc5424({ ...rec, own: true, msg: 'crashed' }, 'shop', 'box')).to.equal(
      '<190>1 2026-11-30T01:02:03.456Z box shop web.1 slipway - crashed',
    );
  });

  it('keeps header fields printable ASCII without spaces, never empty', () => {
    expect(rfc5424({ ...rec, procid: 'we b\u00e9' }, '', 'h o')).to.match(/^<190>1 \S+ ho - web - - /);
  });

  it('counts octets in bytes, not characters: multi-byte UTF-8 frames parse back whole', () => {
    const msg = rfc5424(rec, 'shop', 'box');
    const framed = octetFrame(msg);
    const count = Number(framed.slice(0, framed.indexOf(' ')));
    expect(count).to.equal(Buffer.byteLength(msg));
    // 🚀 takes 4 bytes, each CJK character 3, é ö ✓ 2 or 3: the character count would be short.
    expect(count).to.be.greaterThan(msg.length);
    const both = Buffer.from(framed + octetFrame('<190>1 - - - - - - second'));
    expect(parseOctetFrames(both)).to.deep.equal({ messages: [msg, '<190>1 - - - - - - second'], rest: Buffer.alloc(0) });
  });

  it('reads the stamped lines of an app log: output, Slipway notes, and lines of another shape', () => {
    const chunk = Buffer.from('2026-11-30T01:02:03.456Z web.1: hello ✓\n2026-11-30T01:02:04.000Z slipway[web.2]: started\nnot stamped\n');
    const [a, b, c] = parseLogChunk(chunk);
    expect(a).to.deep.equal({ time: '2026-11-30T01:02:03.456Z', procid: 'web.1', own: false, msg: 'hello ✓' });
    expect(b).to.deep.equal({ time: '2026-11-30T01:02:04.000Z', procid: 'web.2', own: true, msg: 'started' });
    expect(c).to.include({ procid: 'app', own: false, msg: 'not stamped' });
  });
});

describe('drains/router-line', () => {
  it("writes Heroku's key=value router line, quoting what the client chose", () => {
    const entry = { app: 'shop', method: 'GET', host: 'shop.example.com', fwd: '203.0.113.9', status: 200, protocol: 'https' as const };
    expect(routerLine({ ...entry, path: '/cart?id=3', bytes: 12 })).to.equal(
      'at=info method=GET path="/cart?id=3" host=shop.example.com fwd="203.0.113.9" status=200 bytes=12 protocol=https',
    );
    // A quote or a newline in the path cannot forge another field or another line.
    expect(routerLine({ ...entry, path: '/a" status=500\nx' })).to.equal(
      'at=info method=GET path="/a\\x22 status=500\\x0ax" host=shop.example.com fwd="203.0.113.9" status=200 bytes=- protocol=https',
    );
  });
});
