import { INBOUND_MAP, OUTBOUND_MAP } from './render.js';

/** The parts of `nft -j list table` output that sfip reads back. */
export interface NftTableState {
  readonly signature: string[];
  readonly inbound: Map<string, string>;
  readonly outbound: Map<string, string>;
  readonly maps: Set<string>;
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
type NftObject = { chain?: NftChain; rule?: NftRule; map?: NftMap; set?: unknown; table?: unknown };

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
      maps.add('(unexpected set)');
    }
  }
  return { signature: [...chains, ...rules], inbound, outbound, maps };
}

export const EXPECTED_MAPS = new Set([
  `${INBOUND_MAP} ipv4_addr:ipv4_addr`,
  `${OUTBOUND_MAP} ipv4_addr:ipv4_addr`,
]);

/** Table names in `nft -j list tables` output for the ip family. */
export function parseTableNames(json: string): string[] {
  const objects =
    (JSON.parse(json) as { nftables?: { table?: { family: string; name: string } }[] }).nftables ?? [];
  return objects.flatMap((o) => (o.table && o.table.family === 'ip' ? [o.table.name] : []));
}
