import { join } from 'node:path';
import { NATIVE_DIR } from '../../paths.js';
import { ipv4ToUint32 } from '../../model/index.js';
import type { FloatingMapping } from '../types.js';
import { SOURCE_MACS } from './anti-spoofing.js';
import { ICMP_MAPS } from './icmp-errors.js';
import { FIXED_SET, FLOATING_SET } from './membership.js';
import { COUNTER_SETS, INBOUND_MAP, OUTBOUND_MAP } from './render.js';

/**
 * The compiled element loader (native/nft-load.c), in dist/native like the set dumper. It adds the
 * elements of a router's new table straight through netlink: at 100,000 floating IPs nft's parser and evaluator
 * spent about 4 us on each of the 1.1 million elements of a first apply.
 */
export const ELEMENT_LOAD_HELPER = join(NATIVE_DIR, 'sfip-nft-load');

/** Two hex digits per byte value: at 1.1 million elements, `toString(16).padStart` cost most of the time here. */
const BYTE = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));
/** The kernel's bytes of a 32-bit word in hex, network byte order, as the loader takes them. */
const word = (n: number): string =>
  BYTE[n >>> 24]! + BYTE[(n >>> 16) & 255]! + BYTE[(n >>> 8) & 255]! + BYTE[n & 255]!;
const half = (n: number): string => BYTE[(n >>> 8) & 255]! + BYTE[n & 255]!;

/** A mapping's addresses in the loader's hex, worked out once for the eleven elements that use them. */
interface Encoded {
  readonly mapping: FloatingMapping;
  readonly floating: string;
  readonly fixed: string;
}

/** One set or map of the load: its name, and each mapping's `KEY` or `KEY DATA` (undefined: no element). */
type LoadedSet = readonly [string, (e: Encoded) => string | undefined];

const LOADED_SETS: readonly LoadedSet[] = [
  [INBOUND_MAP, (e) => `${e.floating} ${e.fixed}`],
  [OUTBOUND_MAP, (e) => `${e.fixed} ${e.floating}`],
  ...ICMP_MAPS.map((map): LoadedSet => {
    // The address maps hold the mapping's other address; the checksum maps a 16-bit compensation word.
    const other = map.keyedBy === 'floating' ? (e: Encoded) => e.fixed : (e: Encoded) => e.floating;
    const key = map.keyedBy === 'floating' ? (e: Encoded) => e.floating : (e: Encoded) => e.fixed;
    return [
      map.name,
      map.valueDigits === 8
        ? (e) => `${key(e)} ${other(e)}`
        : (e) => `${key(e)} ${half(map.raw(e.mapping)[1])}`,
    ];
  }),
  ...[...COUNTER_SETS, FLOATING_SET].map((name): LoadedSet => [name, (e) => e.floating]),
  [FIXED_SET, (e) => e.fixed],
  // `ether_addr . ipv4_addr`: the kernel pads each field of a concatenation to 4 bytes, so the 6-byte MAC takes 8.
  [
    SOURCE_MACS,
    (e) => e.mapping.fixedMac && `${e.mapping.fixedMac.replace(/:/g, '').toLowerCase()}0000${e.fixed}`,
  ],
];

/**
 * The loader's input for every element renderFull writes per floating IP (the maps, counter, membership and source
 * MAC sets): `SET KEY [DATA]` lines, one set after the other so that each of its messages holds one set's elements.
 */
export function loadLines(mappings: readonly FloatingMapping[]): string {
  const encoded: Encoded[] = mappings.map((m) => ({
    mapping: m,
    floating: word(ipv4ToUint32(m.floatingIp)),
    fixed: word(ipv4ToUint32(m.fixedIp)),
  }));
  // A line array per set, joined: concatenating 1.1 million short strings one by one cost more.
  const sets = LOADED_SETS.map(([name, element]) => {
    const lines: string[] = [];
    const prefix = `${name} `;
    for (const e of encoded) {
      const line = element(e);
      if (line !== undefined) lines.push(prefix + line);
    }
    return lines.length ? lines.join('\n') + '\n' : '';
  });
  return sets.join('');
}
