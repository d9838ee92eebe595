import { fileURLToPath } from 'node:url';
import { ipv4ToUint32, type IPv4 } from '../../model/index.js';
import type { FloatingMapping } from '../types.js';
import { SOURCE_MACS } from './anti-spoofing.js';
import { ICMP_MAPS } from './icmp-errors.js';
import { FIXED_SET, FLOATING_SET } from './membership.js';
import { COUNTER_SETS, INBOUND_MAP, OUTBOUND_MAP } from './render.js';

/**
 * The compiled element loader (native/nft-load.c), beside the compiled JavaScript like the set dumper. It adds the
 * elements of a router's new table straight through netlink: at 100,000 floating IPs nft's parser and evaluator
 * spent about 4 us on each of the 1.1 million elements of a first apply.
 */
export const ELEMENT_LOAD_HELPER = fileURLToPath(
  new URL('../../../dist/native/sfip-nft-load', import.meta.url),
);

/** The kernel's bytes of an address (or raw 32-bit word) in hex, network byte order, as the loader takes them. */
const word = (n: number): string => n.toString(16).padStart(8, '0');
const address = (ip: string): string => word(ipv4ToUint32(ip as IPv4));

/** One set or map of the load: its name, and each mapping's `KEY` or `KEY DATA` (undefined: no element). */
type LoadedSet = readonly [string, (m: FloatingMapping) => string | undefined];

const LOADED_SETS: readonly LoadedSet[] = [
  [INBOUND_MAP, (m) => `${address(m.floatingIp)} ${address(m.fixedIp)}`],
  [OUTBOUND_MAP, (m) => `${address(m.fixedIp)} ${address(m.floatingIp)}`],
  ...ICMP_MAPS.map((map): LoadedSet => {
    return [
      map.name,
      (m) => {
        const [key, value] = map.raw(m);
        return `${word(key)} ${value.toString(16).padStart(map.valueDigits, '0')}`;
      },
    ];
  }),
  ...[...COUNTER_SETS, FLOATING_SET].map((name): LoadedSet => [name, (m) => address(m.floatingIp)]),
  [FIXED_SET, (m) => address(m.fixedIp)],
  // `ether_addr . ipv4_addr`: the kernel pads each field of a concatenation to 4 bytes, so the 6-byte MAC takes 8.
  [
    SOURCE_MACS,
    (m) => m.fixedMac && `${m.fixedMac.replace(/:/g, '').toLowerCase()}0000${address(m.fixedIp)}`,
  ],
];

/**
 * The loader's input for every element renderFull writes per floating IP (the maps, counter, membership and source
 * MAC sets): `SET KEY [DATA]` lines, one set after the other so that each of its messages holds one set's elements.
 */
export function loadLines(mappings: readonly FloatingMapping[]): string {
  const lines: string[] = [];
  for (const [name, element] of LOADED_SETS)
    for (const m of mappings) {
      const text = element(m);
      if (text !== undefined) lines.push(`${name} ${text}`);
    }
  return lines.length ? lines.join('\n') + '\n' : '';
}
