import { ipv4FromUint32, ipv4ToUint32, type IPv4 } from '../../model/index.js';
import type { FloatingMapping } from '../types.js';

/**
 * ICMP errors quote the header of the packet that caused them. Payload mangling rewrites only the outer header,
 * so without this an error about a floating IP's packet reaches the VM still quoting the floating address (or
 * reaches the outside quoting the fixed one): no socket matches it, path-MTU discovery black-holes, traceroute
 * shows nothing. These maps rewrite the quoted address.
 *
 * The catch: nft 1.0.6 attaches no checksum update to raw payload writes (`@th,...`), and every ICMP field it does
 * know (id, mtu, gateway) carries an implicit ICMP type dependency. So sfip keeps the ICMP checksum valid without
 * recomputing it: together with the quoted address it writes a 16-bit compensation word into a header field that
 * RFC 792 leaves unused (must be zero), chosen per mapping so that the one's complement sum of the message is
 * unchanged. The rule only fires when that field is zero, so the arithmetic is exact:
 *   - destination unreachable / fragmentation needed: bytes 4-5 (bytes 6-7 carry the next-hop MTU);
 *   - every other error (unreachable, time exceeded, parameter problem): bytes 6-7 (byte 4 is the parameter
 *     problem pointer, byte 5 the RFC 4884 length).
 * What stays stale, as with act_nat: the quoted IP header's own checksum (no receiver validates it; the quoted
 * header is often truncated anyway) and the quoted UDP checksum. The unused word is left non-zero.
 */

/** Quoted IPv4 source and destination, as offsets in bits from the start of the ICMP header (8 + 12/16 bytes). */
const QUOTED_SADDR = '@th,160,32';
const QUOTED_DADDR = '@th,192,32';
/** The unused words the compensation goes into. */
const WORD_4 = '@th,32,16';
const WORD_6 = '@th,48,16';

export const ICMP_INBOUND_ADDR = 'icmp_fip2fixed';
export const ICMP_INBOUND_CSUM = 'icmp_fip2fixed_csum';
export const ICMP_OUTBOUND_ADDR = 'icmp_fixed2fip';
export const ICMP_OUTBOUND_CSUM = 'icmp_fixed2fip_csum';

/** A raw word as nft writes it: `0x` and the given number of hex digits. */
const hex = (n: number, digits: number) => `0x${n.toString(16).padStart(digits, '0')}`;

/** `0xcb00710a`: how nft writes a raw 32-bit key. */
export const rawAddress = (ip: string): string => hex(ipv4ToUint32(ip as IPv4), 8);

const fold = (n: number): number => {
  let s = n;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
};
const wordSum = (ip: string): number => {
  const n = ipv4ToUint32(ip as IPv4);
  return fold((n >>> 16) + (n & 0xffff));
};

/**
 * The 16-bit word that, written where a zero was, keeps a one's complement checksum valid when a 32-bit field
 * changes from `from` to `to`: sum(from) - sum(to), in one's complement arithmetic.
 */
export function compensation(from: string, to: string): number {
  return fold(wordSum(from) + (~wordSum(to) & 0xffff));
}

export interface IcmpMapSpec {
  readonly name: string;
  readonly declaration: string;
  /** The element for one mapping, `key : value`. */
  readonly element: (m: FloatingMapping) => string;
  /** The same element as the numbers the kernel holds, for reading back. */
  readonly raw: (m: FloatingMapping) => readonly [number, number];
  /** Which side of the mapping is the key. */
  readonly keyedBy: 'floating' | 'fixed';
  /** The value's width in hex digits: 8 for an address, 4 for a compensation word. */
  readonly valueDigits: 4 | 8;
}

/**
 * One quoted-header map: its element is the numbers it holds, written as nft takes raw words (32-bit key; an
 * address or a 16-bit compensation word as value), so what is written and what a read compares cannot drift apart.
 */
function icmpMap(
  name: string,
  declaration: string,
  keyedBy: 'floating' | 'fixed',
  valueDigits: 4 | 8,
  raw: (m: FloatingMapping) => readonly [number, number],
): IcmpMapSpec {
  return {
    name,
    declaration,
    keyedBy,
    raw,
    valueDigits,
    element: (m) => {
      const [key, value] = raw(m);
      return `${hex(key, 8)} : ${hex(value, valueDigits)}`;
    },
  };
}

export const ICMP_MAPS: readonly IcmpMapSpec[] = [
  icmpMap(ICMP_INBOUND_ADDR, `typeof ${QUOTED_SADDR} : ${QUOTED_SADDR}`, 'floating', 8, (m) => [
    ipv4ToUint32(m.floatingIp),
    ipv4ToUint32(m.fixedIp),
  ]),
  icmpMap(ICMP_INBOUND_CSUM, `typeof ${QUOTED_SADDR} : ${WORD_6}`, 'floating', 4, (m) => [
    ipv4ToUint32(m.floatingIp),
    compensation(m.floatingIp, m.fixedIp),
  ]),
  icmpMap(ICMP_OUTBOUND_ADDR, `typeof ${QUOTED_DADDR} : ${QUOTED_DADDR}`, 'fixed', 8, (m) => [
    ipv4ToUint32(m.fixedIp),
    ipv4ToUint32(m.floatingIp),
  ]),
  icmpMap(ICMP_OUTBOUND_CSUM, `typeof ${QUOTED_DADDR} : ${WORD_6}`, 'fixed', 4, (m) => [
    ipv4ToUint32(m.fixedIp),
    compensation(m.fixedIp, m.floatingIp),
  ]),
];

/** The rules of one direction: three, for the three places the compensation word can go. */
function rewrite(quoted: string, addrMap: string, csumMap: string): string[] {
  const write = (word: string) =>
    `${word} set ${quoted} map @${csumMap} ${quoted} set ${quoted} map @${addrMap}`;
  return [
    `icmp type { time-exceeded, parameter-problem } ${WORD_6} 0 ${write(WORD_6)}`,
    `icmp type destination-unreachable icmp code != frag-needed ${WORD_6} 0 ${write(WORD_6)}`,
    `icmp type destination-unreachable icmp code frag-needed ${WORD_4} 0 ${write(WORD_4)}`,
  ];
}

/** Errors about packets a floating IP sent: the quoted source goes back to the fixed IP. */
export const inboundIcmpRules = (): string[] => rewrite(QUOTED_SADDR, ICMP_INBOUND_ADDR, ICMP_INBOUND_CSUM);

/** Errors about packets sent to a floating IP (from the VM, or from the router itself): the quoted destination. */
export const outboundIcmpRules = (): string[] =>
  rewrite(QUOTED_DADDR, ICMP_OUTBOUND_ADDR, ICMP_OUTBOUND_CSUM);

/** Reads a raw-keyed map element back into dotted-quad form. */
export const addressOfRaw = (n: number): string => ipv4FromUint32(n);
