import { expect } from 'chai';
import os from 'node:os';
import { CLASS_TEXT, canonicalIp, classify, parseIp } from '../../src/egress/addresses.js';
import { inCidr, parseAllowList, parseCidr } from '../../src/egress/cidr.js';
import { DEFAULT_EGRESS, checkAddress } from '../../src/egress/policy.js';
import { SlipwayError } from '../../src/errors.js';

describe('egress/addresses', () => {
  it('parses IPv4 and IPv6 in every spelling into bytes', () => {
    expect([...parseIp('10.1.2.3')!]).to.deep.equal([10, 1, 2, 3]);
    expect([...parseIp('::1')!]).to.deep.equal([...new Array(15).fill(0), 1]);
    expect([...parseIp('[::1]')!]).to.deep.equal([...new Array(15).fill(0), 1]);
    expect([...parseIp('fe80::1%eth0')!].slice(0, 2)).to.deep.equal([0xfe, 0x80]);
    expect([...parseIp('::ffff:127.0.0.1')!].slice(10)).to.deep.equal([0xff, 0xff, 127, 0, 0, 1]);
    expect([...parseIp('::ffff:7f00:1')!]).to.deep.equal([...parseIp('::ffff:127.0.0.1')!]);
    expect([...parseIp('2001:db8:0:0:0:0:0:1')!]).to.deep.equal([...parseIp('2001:db8::1')!]);
    for (const junk of ['', 'localhost', '1.2.3', '256.1.1.1', '::g', '1.2.3.4/8', '01.2.3.4x'])
      expect(parseIp(junk), junk).to.equal(undefined);
  });

  it('classifies IPv4 ranges, with their edges', () => {
    const cases: Array<[string, string | undefined]> = [
      ['127.0.0.1', 'loopback'],
      ['127.255.255.255', 'loopback'],
      ['126.255.255.255', undefined],
      ['128.0.0.0', undefined],
      ['10.0.0.0', 'private'],
      ['10.255.255.255', 'private'],
      ['11.0.0.0', undefined],
      ['9.255.255.255', undefined],
      ['172.16.0.0', 'private'],
      ['172.31.255.255', 'private'],
      ['172.15.255.255', undefined],
      ['172.32.0.0', undefined],
      ['192.168.0.1', 'private'],
      ['192.169.0.1', undefined],
      ['169.254.169.254', 'link-local'],
      ['169.253.255.255', undefined],
      ['100.64.0.0', 'cgnat'],
      ['100.127.255.255', 'cgnat'],
      ['100.63.255.255', undefined],
      ['100.128.0.0', undefined],
      ['224.0.0.1', 'multicast'],
      ['239.255.255.255', 'multicast'],
      ['0.0.0.0', 'unspecified'],
      ['0.1.2.3', 'reserved'],
      ['255.255.255.255', 'reserved'],
      ['240.0.0.1', 'reserved'],
      ['8.8.8.8', undefined],
      ['1.1.1.1', undefined],
      ['223.255.255.255', undefined],
    ];
    for (const [ip, kind] of cases) expect(classify(ip), ip).to.equal(kind);
  });

  it('classifies IPv6 ranges and the IPv4 forms hidden in IPv6 (mapped, compatible, NAT64, 6to4)', () => {
    const cases: Array<[string, string | undefined]> = [
      ['::1', 'loopback'],
      ['0:0:0:0:0:0:0:1', 'loopback'],
      ['::', 'unspecified'],
      ['fc00::1', 'private'],
      ['fdff:ffff::1', 'private'],
      ['fbff::1', undefined],
      ['fe80::1', 'link-local'],
      ['febf::1', 'link-local'],
      ['fec0::1', 'private'],
      ['ff02::1', 'multicast'],
      ['2606:4700:4700::1111', undefined],
      ['::ffff:127.0.0.1', 'loopback'],
      ['::ffff:7f00:1', 'loopback'],
      ['::ffff:169.254.169.254', 'link-local'],
      ['::ffff:a9fe:a9fe', 'link-local'],
      ['::ffff:10.0.0.1', 'private'],
      ['::ffff:8.8.8.8', undefined],
      ['::127.0.0.1', 'loopback'],
      ['64:ff9b::127.0.0.1', 'loopback'],
      ['64:ff9b::8.8.8.8', undefined],
      ['2002:7f00:1::', 'loopback'],
      ['2002:a9fe:a9fe::1', 'link-local'],
      ['2002:0808:0808::1', undefined],
    ];
    for (const [ip, kind] of cases) expect(classify(ip), ip).to.equal(kind);
  });

  it('spells an address one way for comparing', () => {
    expect(canonicalIp('::ffff:192.0.2.2')).to.equal('192.0.2.2');
    expect(canonicalIp('::FFFF:C000:0202')).to.equal('192.0.2.2');
    expect(canonicalIp('fd00:0::2')).to.equal('fd00:0:0:0:0:0:0:2');
  });

  it('parses allowed ranges and matches IPv4-mapped addresses against IPv4 ranges', () => {
    const [ten, host, v6] = parseAllowList('10.0.0.0/8, 127.0.0.1/32 ::1/128');
    expect(inCidr(parseIp('10.200.0.1')!, ten!)).to.equal(true);
    expect(inCidr(parseIp('11.0.0.1')!, ten!)).to.equal(false);
    expect(inCidr(parseIp('::ffff:10.0.0.1')!, ten!)).to.equal(true);
    expect(inCidr(parseIp('127.0.0.1')!, host!)).to.equal(true);
    expect(inCidr(parseIp('127.0.0.2')!, host!)).to.equal(false);
    expect(inCidr(parseIp('::1')!, v6!)).to.equal(true);
    expect(inCidr(parseIp('127.0.0.1')!, v6!)).to.equal(false);
    expect(parseCidr('192.168.1.7').text).to.equal('192.168.1.7/32');
    expect(parseAllowList('')).to.deep.equal([]);
    for (const bad of ['10.0.0.0/33', '::1/129', 'example.com/8', '10.0.0.0/8/1', '10.0.0.0/x'])
      expect(() => parseCidr(bad), bad).to.throw(/not an address range/);
  });

  it('refuses what the rule forbids, naming the setting, the address and how an admin allows it', () => {
    const target = { setting: 'artifact_urls', url: 'http://127.0.0.1:7000/x' };
    const refusal = (ip: string, allow: string[] = []) => {
      try {
        checkAddress({ ...DEFAULT_EGRESS, allow }, ip, target);
        return undefined;
      } catch (err) {
        expect(err).to.be.instanceOf(SlipwayError);
        return (err as SlipwayError).message;
      }
    };
    expect(refusal('127.0.0.1')).to.equal(
      `artifact_urls: http://127.0.0.1:7000/x resolves to 127.0.0.1, ${CLASS_TEXT.loopback}; only an admin may allow it (slipway server --egress-allow 127.0.0.1/32)`,
    );
    expect(refusal('::ffff:169.254.169.254')).to.include('link-local').and.include('--egress-allow 169.254.169.254/32');
    expect(refusal('::1')).to.include('--egress-allow ::1/128');
    expect(refusal('8.8.8.8')).to.equal(undefined);
    expect(refusal('127.0.0.1', ['127.0.0.0/8'])).to.equal(undefined);
    expect(refusal('::ffff:127.0.0.1', ['127.0.0.1/32'])).to.equal(undefined);
    expect(refusal('127.0.0.2', ['127.0.0.1/32'])).to.include('loopback');
    // The server's own interface addresses, whatever their range (a public one is named as the server's own).
    const own = Object.values(os.networkInterfaces())
      .flat()
      .map((i) => i!.address);
    expect(own).to.not.be.empty;
    for (const a of own)
      expect(refusal(a), a).to.match(
        classify(a) ? new RegExp(CLASS_TEXT[classify(a)!].replace(/[()]/g, '.')) : /this server's own addresses/,
      );
  });
});
