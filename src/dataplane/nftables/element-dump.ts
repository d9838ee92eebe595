import { yieldToLoop } from '../common/yield-to-loop.js';
import { ipv4ToUint32, type IPv4 } from '../../model/index.js';
import { SOURCE_MACS } from './anti-spoofing.js';
import { ICMP_MAPS } from './icmp-errors.js';
import { MEMBERSHIP_SETS } from './membership.js';
import { COUNT_IN_SET, COUNT_OUT_SET, INBOUND_MAP, OUTBOUND_MAP } from './render.js';

/** The elements a quick read needs: both translation maps and the anti-spoofing set. */
export interface TranslationElements {
  readonly inbound: Map<string, string>;
  readonly outbound: Map<string, string>;
  /** fixed IP -> MAC. */
  readonly macs: Map<string, string>;
}

/** What a deep read needs on top: the quoted-header maps (raw numbers, as parse.ts compares them) and counter sets. */
export interface DumpedElements extends TranslationElements {
  readonly raw: Map<string, [number, number][]>;
  readonly counted: Map<string, Set<string>>;
}

/**
 * The sets sfip-nft-set-dump lists for a quick read, in one process: the membership sets belong to the
 * translation maps (membership.ts).
 */
export const TRANSLATION_SETS = [INBOUND_MAP, OUTBOUND_MAP, SOURCE_MACS, ...MEMBERSHIP_SETS] as const;

/** The element sets a deep read lists: every set of the table whose elements follow from the mappings. */
export const DEEP_SETS = [
  ...TRANSLATION_SETS,
  ...ICMP_MAPS.map((m) => m.name),
  COUNT_IN_SET,
  COUNT_OUT_SET,
] as const;

const MAC_KEY = /^([0-9a-f]{2}(?::[0-9a-f]{2}){5})\.(.+)$/;
const RAW_MAPS = new Set(ICMP_MAPS.map((m) => m.name));
/** Plain sets whose keys are collected in `counted`: the counter sets and the membership sets. */
const COUNTER_SETS = new Set<string>([COUNT_IN_SET, COUNT_OUT_SET, ...MEMBERSHIP_SETS]);

/** A raw word as the dumper prints it: a dotted quad for 32 bits, 0xNNNN for 16. */
const rawNumber = (text: string): number =>
  text.startsWith('0x') ? Number.parseInt(text.slice(2), 16) : ipv4ToUint32(text as IPv4);

/**
 * Parses sfip-nft-set-dump's lines (`SET KEY DATA PACKETS BYTES`). At 100,000 floating IPs a deep read is
 * 900,000 lines: parsed in slices, yielding to the event loop between them, and without the object graph
 * `nft -j` output becomes (hundreds of MB of heap for one read).
 */
export async function parseDumpedElements(
  text: string,
  /** The sets the dump was asked for: each exists (the dumper fails on a missing one), even if it printed nothing. */
  listed: readonly string[] = TRANSLATION_SETS,
): Promise<DumpedElements> {
  const inbound = new Map<string, string>();
  const outbound = new Map<string, string>();
  const macs = new Map<string, string>();
  const raw = new Map<string, [number, number][]>(listed.filter((s) => RAW_MAPS.has(s)).map((s) => [s, []]));
  const counted = new Map<string, Set<string>>(
    listed.filter((s) => COUNTER_SETS.has(s)).map((s) => [s, new Set<string>()]),
  );
  let start = 0;
  for (let lines = 1; start < text.length; lines++) {
    if (lines % 10_000 === 0) await yieldToLoop();
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    // The first three fields by hand, not by splitting the line: no line string and no array per element
    // (500,000 lines in a quick read at 100,000 floating IPs).
    const set = field(text, start, end);
    const key = field(text, start + set.length + 1, end);
    const data = field(text, start + set.length + key.length + 2, end);
    start = end + 1;
    if (!set || !key) continue;
    if (set === INBOUND_MAP && data && data !== '-') inbound.set(key, data);
    else if (set === OUTBOUND_MAP && data && data !== '-') outbound.set(key, data);
    else if (set === SOURCE_MACS) {
      const m = MAC_KEY.exec(key);
      if (m) macs.set(m[2]!, m[1]!);
    } else if (RAW_MAPS.has(set) && data && data !== '-')
      raw.get(set)?.push([rawNumber(key), rawNumber(data)]);
    else if (COUNTER_SETS.has(set)) counted.get(set)?.add(key);
  }
  return { inbound, outbound, macs, raw, counted };
}

/** The text from `from` to the next space or `end`; empty when `from` is past `end`. */
function field(text: string, from: number, end: number): string {
  if (from >= end) return '';
  const space = text.indexOf(' ', from);
  return text.slice(from, space < 0 || space > end ? end : space);
}
