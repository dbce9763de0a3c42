import { mappedIpv4, matchesPrefix, parseIp } from './addresses.js';

/** An address range an admin allowed (`--egress-allow 10.0.0.0/8,::1/128`). */
export interface Cidr {
  text: string;
  prefix: Uint8Array;
  bits: number;
}

/** `10.0.0.0/8`, `::1/128`, or a bare address (a single host); throws an Error saying what is wrong. */
export function parseCidr(text: string): Cidr {
  const [addr, len, extra] = text.trim().split('/');
  const prefix = addr === undefined ? undefined : parseIp(addr);
  const max = prefix?.length === 4 ? 32 : 128;
  const bits = len === undefined ? max : /^\d{1,3}$/.test(len) ? Number(len) : NaN;
  if (!prefix || extra !== undefined || !(bits >= 0 && bits <= max)) {
    throw new Error(`"${text}" is not an address range; write it as 10.0.0.0/8, 127.0.0.1/32 or ::1/128`);
  }
  return { text: `${addr}/${bits}`, prefix, bits };
}

/** A comma- or space-separated list of ranges; empty text allows nothing. */
export function parseAllowList(text: string | readonly string[] | undefined): Cidr[] {
  const items = typeof text === 'string' ? text.split(/[\s,]+/) : [...(text ?? [])];
  return items.filter(Boolean).map(parseCidr);
}

/** True when the address is in the range; an IPv4-mapped IPv6 address counts as its IPv4 form. */
export function inCidr(ip: Uint8Array, cidr: Cidr): boolean {
  if (matchesPrefix(ip, cidr.prefix, cidr.bits)) return true;
  const v4 = mappedIpv4(ip);
  return !!v4 && matchesPrefix(v4, cidr.prefix, cidr.bits);
}
