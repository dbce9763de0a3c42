import net from 'node:net';

/**
 * Why an address is not a place the server goes on a user's behalf. Public
 * addresses have no class: they are what egress is for.
 */
export type AddressClass = 'loopback' | 'private' | 'link-local' | 'multicast' | 'unspecified' | 'cgnat' | 'reserved';

/** How a refusal names each class, after "resolves to 127.0.0.1, …". */
export const CLASS_TEXT: Record<AddressClass, string> = {
  loopback: 'a loopback address',
  private: 'a private address',
  'link-local': 'a link-local address (cloud metadata lives there)',
  multicast: 'a multicast address',
  unspecified: 'the unspecified address',
  cgnat: 'a carrier-grade NAT address (100.64.0.0/10)',
  reserved: 'a reserved address',
};

/** An address as 4 or 16 bytes; undefined when the text is not an IP address. A zone (`%eth0`) is ignored. */
export function parseIp(text: string): Uint8Array | undefined {
  const bare = text.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const family = net.isIP(bare);
  if (family === 4) return Uint8Array.from(bare.split('.').map(Number));
  if (family !== 6) return undefined;
  // A dotted IPv4 tail (::ffff:1.2.3.4) is the last two groups.
  const s = bare.replace(
    /(\d+)\.(\d+)\.(\d+)\.(\d+)$/,
    (_, a, b, c, d) => `${((+a << 8) | +b).toString(16)}:${((+c << 8) | +d).toString(16)}`,
  );
  const [left, right] = s.split('::');
  const l = left ? left.split(':') : [];
  const r = right ? right.split(':') : [];
  const words = (right === undefined ? l : [...l, ...new Array<string>(8 - l.length - r.length).fill('0'), ...r]).map((g) =>
    parseInt(g, 16),
  );
  const bytes = new Uint8Array(16);
  words.forEach((w, i) => {
    bytes[2 * i] = w >> 8;
    bytes[2 * i + 1] = w & 0xff;
  });
  return bytes;
}

/** The IPv4 address of an IPv4-mapped IPv6 address (::ffff:a.b.c.d), or undefined. */
export function mappedIpv4(b: Uint8Array): Uint8Array | undefined {
  return b.length === 16 && b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff ? b.slice(12) : undefined;
}

/** The IPv4 address an IPv6 one carries (mapped, compatible, NAT64, 6to4), or undefined. */
export function embeddedIpv4(b: Uint8Array): Uint8Array | undefined {
  if (b.length !== 16) return undefined;
  const zero = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
  // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (the deprecated compatible form, but not :: and ::1).
  if (zero(0, 10) && b[10] === 0xff && b[11] === 0xff) return b.slice(12);
  if (zero(0, 12) && !zero(12, 15)) return b.slice(12);
  // 64:ff9b::/96, NAT64's well-known prefix.
  if (b[0] === 0 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zero(4, 12)) return b.slice(12);
  // 2002:AABB:CCDD::/48, 6to4.
  if (b[0] === 0x20 && b[1] === 0x02) return b.slice(2, 6);
  return undefined;
}

/** The first `bits` bits of `b` equal those of `prefix`. */
export function matchesPrefix(b: Uint8Array, prefix: Uint8Array, bits: number): boolean {
  if (b.length !== prefix.length) return false;
  for (let i = 0; i < bits; i += 8) {
    const take = Math.min(8, bits - i);
    const mask = (0xff << (8 - take)) & 0xff;
    if ((b[i / 8]! & mask) !== (prefix[i / 8]! & mask)) return false;
  }
  return true;
}

const V4: Array<[string, number, AddressClass]> = [
  ['0.0.0.0', 32, 'unspecified'],
  ['0.0.0.0', 8, 'reserved'],
  ['127.0.0.0', 8, 'loopback'],
  ['10.0.0.0', 8, 'private'],
  ['172.16.0.0', 12, 'private'],
  ['192.168.0.0', 16, 'private'],
  ['169.254.0.0', 16, 'link-local'],
  ['100.64.0.0', 10, 'cgnat'],
  ['224.0.0.0', 4, 'multicast'],
  // 240/4 holds the broadcast address 255.255.255.255 too.
  ['240.0.0.0', 4, 'reserved'],
];
const V6: Array<[string, number, AddressClass]> = [
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  ['fc00::', 7, 'private'],
  // Site-local, deprecated but still routed as private by some networks.
  ['fec0::', 10, 'private'],
  ['fe80::', 10, 'link-local'],
  ['ff00::', 8, 'multicast'],
];
// Parsed on first use: node's IPv6 check compiles a large regex (~25 ms) that the
// CLI and a build's runner, which import this module and never classify, need not pay.
let rules: Array<{ prefix: Uint8Array; bits: number; kind: AddressClass }> | undefined;
const RULES = () => (rules ??= [...V4, ...V6].map(([ip, bits, kind]) => ({ prefix: parseIp(ip)!, bits, kind })));

/** What kind of non-public address this is, or undefined for a public one (or not an address at all). */
export function classify(ip: string | Uint8Array): AddressClass | undefined {
  const b = typeof ip === 'string' ? parseIp(ip) : ip;
  if (!b) return undefined;
  const v4 = embeddedIpv4(b);
  if (v4) return classify(v4);
  return RULES().find((r) => matchesPrefix(b, r.prefix, r.bits))?.kind;
}

/** The same address in one spelling (an IPv4-mapped IPv6 address as its IPv4 form), for comparing. */
export function canonicalIp(ip: string): string {
  const b = parseIp(ip);
  if (!b) return ip;
  const v4 = mappedIpv4(b) ?? b;
  if (v4.length === 4) return [...v4].join('.');
  const words = Array.from({ length: 8 }, (_, i) => ((v4[2 * i]! << 8) | v4[2 * i + 1]!).toString(16));
  return words.join(':');
}
