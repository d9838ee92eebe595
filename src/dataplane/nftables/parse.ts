import type { FloatingMapping } from '../types.js';
import { SOURCE_MACS } from './anti-spoofing.js';
import { ICMP_MAPS } from './icmp-errors.js';
import type { NftLimit } from './qos.js';
import { MEMBERSHIP_EXPECTED } from './membership.js';
import { COUNT_IN_SET, COUNT_OUT_SET, INBOUND_MAP, OUTBOUND_MAP } from './render.js';

/** The parts of `nft -j list table` output that sfip reads back. */
export interface NftTableState {
  readonly signature: string[];
  readonly inbound: Map<string, string>;
  readonly outbound: Map<string, string>;
  readonly maps: Set<string>;
  /** The quoted-header maps hold exactly what the two translation maps imply. */
  readonly icmpConsistent: boolean;
  /** fixed IP -> MAC, from the anti-spoofing set. */
  readonly macs: Map<string, string>;
  /** Keys of the per-floating-IP counter sets, by set name (empty in a terse listing). */
  readonly counted: Map<string, Set<string>>;
  /** Elements of the port-forwarding maps, as port-forwarding.ts renders them (empty in a terse listing). */
  readonly forwardings: Map<string, string[]>;
  /** QoS set name -> floating -> the element's limit (null: none), for the sets listed with elements. */
  readonly limitElements: Map<string, Map<string, NftLimit | null>>;
}

interface NftChain {
  name: string;
  type?: string;
  hook?: string;
  prio?: number;
}
interface NftRule {
  chain: string;
  comment?: string;
}
interface NftMap {
  name: string;
  type: string | string[];
  map?: string;
  elem?: [unknown, unknown][];
}
/** A set element is a bare value, or `{ elem: { val, counter } }` when the set carries per-element counters. */
export type NftSetElement =
  string | { elem?: { val?: unknown; counter?: { packets?: number; bytes?: number } } };
export interface NftSet {
  name: string;
  table?: string;
  type: string | string[];
  elem?: NftSetElement[];
  stmt?: Record<string, unknown>[];
}
type NftObject = {
  chain?: NftChain;
  rule?: NftRule;
  map?: NftMap;
  set?: NftSet;
  table?: unknown;
};

/**
 * Reads a table back. Base chains appear in the signature with type, hook and priority; rules by their
 * comment, so a rule added by hand (no comment) or edited by `nft replace` shows up as drift.
 */
export function parseNftTable(...listings: string[]): NftTableState {
  // A terse table listing and separate map listings describe the same table: merge them, later maps winning.
  const objects = mergeListings(
    listings.map((json) => (JSON.parse(json) as { nftables?: NftObject[] }).nftables ?? []),
  );
  const chains: string[] = [];
  const rules: string[] = [];
  const inbound = new Map<string, string>();
  const outbound = new Map<string, string>();
  const maps = new Set<string>();
  const raw = new Map<string, [number, number][]>();
  const macs = new Map<string, string>();
  const counted = new Map<string, Set<string>>();
  const forwardings = new Map<string, string[]>();
  const limitElements = new Map<string, Map<string, NftLimit | null>>();
  for (const object of objects) {
    if (object.chain) {
      const c = object.chain;
      chains.push(`chain ${c.name} ${c.type ?? '-'} ${c.hook ?? '-'} ${c.prio ?? '-'}`);
    } else if (object.rule) {
      rules.push(`rule ${object.rule.chain} ${object.rule.comment ?? '(uncommented)'}`);
    } else if (object.map) {
      const m = object.map;
      maps.add(`${m.name} ${[m.type].flat().join(',')}:${m.map ?? '-'}`);
      if (m.name.startsWith('pf_')) {
        forwardings.set(
          m.name,
          (m.elem ?? []).map(([key, value]) => `${concatText(key)} : ${concatText(value)}`),
        );
        continue;
      }
      const target = m.name === INBOUND_MAP ? inbound : m.name === OUTBOUND_MAP ? outbound : undefined;
      const numeric: [number, number][] = [];
      raw.set(m.name, numeric);
      for (const [key, value] of m.elem ?? []) {
        if (target && typeof key === 'string' && typeof value === 'string') target.set(key, value);
        if (typeof key === 'number' && typeof value === 'number') numeric.push([key, value]);
      }
    } else if (object.set) {
      const set = object.set;
      const withCounter = (set.stmt ?? []).some((stmt) => 'counter' in stmt);
      const withLimit = (set.stmt ?? []).some((stmt) => 'limit' in stmt);
      maps.add(
        `${set.name} ${[set.type].flat().join('.')}${withCounter ? ' counter' : ''}${withLimit ? ' limit' : ''}`,
      );
      if (set.name.startsWith('pf_')) {
        forwardings.set(
          set.name,
          (set.elem ?? []).map((e) => concatText(e)),
        );
      } else if (set.name.startsWith('qos_')) {
        if (set.elem) limitElements.set(set.name, new Map(set.elem.flatMap(limitElement)));
      } else if (set.name === SOURCE_MACS) {
        for (const e of set.elem ?? []) {
          const [mac, ip] = (e as unknown as { concat?: unknown[] }).concat ?? [];
          if (typeof mac === 'string' && typeof ip === 'string') macs.set(ip, mac);
        }
      } else {
        counted.set(set.name, new Set((set.elem ?? []).flatMap((e) => setElementKey(e) ?? [])));
      }
    }
  }
  return {
    signature: [...chains, ...rules],
    inbound,
    outbound,
    maps,
    icmpConsistent: icmpConsistent(raw, inbound, outbound),
    macs,
    counted,
    forwardings,
    limitElements,
  };
}

/** `{ elem: { val, limit } }` as [floating, its limit]; an element without a limit maps to null. */
function limitElement(element: NftSetElement): [string, NftLimit | null][] {
  const key = setElementKey(element);
  if (key === undefined) return [];
  const limit =
    typeof element === 'string' ? undefined : (element.elem as { limit?: NftLimit } | undefined)?.limit;
  return [[key, limit ?? null]];
}

/** `{concat: [a, b, c]}` as `a . b . c`, a bare value as itself. */
function concatText(value: unknown): string {
  const parts = (value as { concat?: unknown[] } | null)?.concat;
  return Array.isArray(parts) ? parts.map(String).join(' . ') : String(value);
}

function mergeListings(listings: NftObject[][]): NftObject[] {
  const [first = [], ...rest] = listings;
  const listed = new Map(
    rest.flat().flatMap((o) => ((o.map ?? o.set) ? [[(o.map ?? o.set)!.name, o] as const] : [])),
  );
  return first.map((o) => listed.get((o.map ?? o.set)?.name ?? '') ?? o);
}

/** The map and set names in NftTableState.maps (each entry is `NAME TYPE…`). */
export const mapNames = (maps: ReadonlySet<string>): string[] => [...maps].map((m) => m.split(' ')[0]!);

/** Rebuilds the quoted-header map contents the translation maps imply and compares them with what was read. */
export function icmpConsistent(
  raw: Map<string, [number, number][]>,
  inbound: Map<string, string>,
  outbound: Map<string, string>,
): boolean {
  const mappings = [...inbound].map(([floatingIp, fixedIp]) => ({ floatingIp, fixedIp }) as FloatingMapping);
  if (outbound.size !== inbound.size || mappings.some((m) => outbound.get(m.fixedIp) !== m.floatingIp))
    return false;
  // Compared as numbers: strings for 400,000 elements cost a second and a half at 100,000 floating IPs.
  return ICMP_MAPS.every((spec) => {
    const got = new Map(raw.get(spec.name) ?? []);
    if (got.size !== mappings.length || got.size !== (raw.get(spec.name) ?? []).length) return false;
    return mappings.every((m) => {
      const [key, value] = spec.raw(m);
      return got.get(key) === value;
    });
  });
}

export function setElementKey(element: NftSetElement): string | undefined {
  const value = typeof element === 'string' ? element : element.elem?.val;
  return typeof value === 'string' ? value : undefined;
}

/** The maps and sets of an sfip table, as parseNftTable names them. */
export const EXPECTED_MAPS = new Set([
  `${INBOUND_MAP} ipv4_addr:ipv4_addr`,
  `${OUTBOUND_MAP} ipv4_addr:ipv4_addr`,
  `${COUNT_IN_SET} ipv4_addr counter`,
  `${COUNT_OUT_SET} ipv4_addr counter`,
  ...ICMP_MAPS.map((m) => `${m.name} integer:integer`),
  `${SOURCE_MACS} ether_addr.ipv4_addr`,
  ...MEMBERSHIP_EXPECTED,
]);

/** The counter sets must hold exactly the floating addresses of the inbound map, or counters go missing. */
export function countersMatch(state: Pick<NftTableState, 'inbound' | 'counted'>): boolean {
  return [COUNT_IN_SET, COUNT_OUT_SET].every((name) => {
    const keys = state.counted.get(name);
    return (
      keys !== undefined && keys.size === state.inbound.size && [...keys].every((k) => state.inbound.has(k))
    );
  });
}

/**
 * One table's objects out of a ruleset listing, as a listing of that table alone; undefined when the ruleset has
 * no such table.
 */
export function tableObjects(rulesetJson: string, table: string): string | undefined {
  const objects =
    (JSON.parse(rulesetJson) as { nftables?: Record<string, { name?: string; table?: string }>[] })
      .nftables ?? [];
  const kept = objects.filter((o) => {
    if (o.metainfo) return true;
    if (o.table) return o.table.name === table;
    // Every other object (chain, rule, map, set, named object) names its table.
    return Object.values(o)[0]?.table === table;
  });
  return kept.some((o) => o.table) ? JSON.stringify({ nftables: kept }) : undefined;
}

/** Table names in `nft -j list tables` output for the ip family. */
export function parseTableNames(json: string): string[] {
  const objects =
    (JSON.parse(json) as { nftables?: { table?: { family: string; name: string } }[] }).nftables ?? [];
  return objects.flatMap((o) => (o.table && o.table.family === 'ip' ? [o.table.name] : []));
}
