import { COUNT_IN_SET, COUNT_OUT_SET, INBOUND_MAP, OUTBOUND_MAP } from './render.js';

/** The parts of `nft -j list table` output that sfip reads back. */
export interface NftTableState {
  readonly signature: string[];
  readonly inbound: Map<string, string>;
  readonly outbound: Map<string, string>;
  readonly maps: Set<string>;
  /** Keys of the per-floating-IP counter sets, by set name. */
  readonly counted: Map<string, Set<string>>;
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
  type: string;
  map?: string;
  elem?: [unknown, unknown][];
}
/** A set element is a bare value, or `{ elem: { val, counter } }` when the set carries per-element counters. */
export type NftSetElement =
  string | { elem?: { val?: unknown; counter?: { packets?: number; bytes?: number } } };
export interface NftSet {
  name: string;
  table?: string;
  type: string;
  elem?: NftSetElement[];
  stmt?: Record<string, unknown>[];
}
type NftObject = { chain?: NftChain; rule?: NftRule; map?: NftMap; set?: NftSet; table?: unknown };

/**
 * Reads a table back. Base chains appear in the signature with type, hook and priority; rules by their
 * comment, so a rule added by hand (no comment) or edited by `nft replace` shows up as drift.
 */
export function parseNftTable(json: string): NftTableState {
  const objects = (JSON.parse(json) as { nftables?: NftObject[] }).nftables ?? [];
  const chains: string[] = [];
  const rules: string[] = [];
  const inbound = new Map<string, string>();
  const outbound = new Map<string, string>();
  const maps = new Set<string>();
  const counted = new Map<string, Set<string>>();
  for (const object of objects) {
    if (object.chain) {
      const c = object.chain;
      chains.push(`chain ${c.name} ${c.type ?? '-'} ${c.hook ?? '-'} ${c.prio ?? '-'}`);
    } else if (object.rule) {
      rules.push(`rule ${object.rule.chain} ${object.rule.comment ?? '(uncommented)'}`);
    } else if (object.map) {
      const m = object.map;
      maps.add(`${m.name} ${m.type}:${m.map ?? '-'}`);
      const target = m.name === INBOUND_MAP ? inbound : m.name === OUTBOUND_MAP ? outbound : undefined;
      for (const [key, value] of m.elem ?? []) {
        if (target && typeof key === 'string' && typeof value === 'string') target.set(key, value);
      }
    } else if (object.set) {
      const s = object.set;
      const withCounter = (s.stmt ?? []).some((stmt) => 'counter' in stmt);
      maps.add(`${s.name} ${s.type}${withCounter ? ' counter' : ''}`);
      counted.set(s.name, new Set((s.elem ?? []).flatMap((e) => setElementKey(e) ?? [])));
    }
  }
  return { signature: [...chains, ...rules], inbound, outbound, maps, counted };
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

/** Table names in `nft -j list tables` output for the ip family. */
export function parseTableNames(json: string): string[] {
  const objects =
    (JSON.parse(json) as { nftables?: { table?: { family: string; name: string } }[] }).nftables ?? [];
  return objects.flatMap((o) => (o.table && o.table.family === 'ip' ? [o.table.name] : []));
}
