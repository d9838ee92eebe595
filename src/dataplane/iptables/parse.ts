import { CHAIN_PREFIX, routerIdOfJump } from './chains.js';

/** One table of `iptables-save` output: its chains and its rules in order, each rule without `-A <chain> `. */
export interface SavedTable {
  readonly chains: Set<string>;
  readonly rules: { readonly chain: string; readonly spec: string }[];
}

/** Parses `iptables-save` output (any number of tables) into tables by name. */
export function parseIptablesSave(text: string): Map<string, SavedTable> {
  const tables = new Map<string, SavedTable>();
  let current: SavedTable | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('*')) {
      current = { chains: new Set(), rules: [] };
      tables.set(line.slice(1), current);
    } else if (line === 'COMMIT') {
      current = undefined;
    } else if (current && line.startsWith(':')) {
      current.chains.add(line.slice(1).split(' ')[0]!);
    } else if (current && line.startsWith('-A ')) {
      const rest = line.slice(3);
      const space = rest.indexOf(' ');
      const chain = space < 0 ? rest : rest.slice(0, space);
      current.rules.push({ chain, spec: space < 0 ? '' : rest.slice(space + 1) });
    } else {
      throw new Error(`Cannot parse iptables-save line ${JSON.stringify(line)}`);
    }
  }
  return tables;
}

/** Router ids that have sfip jump rules or whose chain tag appears, in the given saved tables. */
export function ownedRouterIds(tables: ReadonlyMap<string, SavedTable>): string[] {
  const ids = new Set<string>();
  for (const table of tables.values()) {
    for (const rule of table.rules) {
      const id = routerIdOfJump(rule.spec);
      if (id) ids.add(id);
    }
  }
  return [...ids].sort();
}

/** Owned chain names present in a table (any router), for sweeping. */
export function ownedChains(table: SavedTable | undefined): string[] {
  return table ? [...table.chains].filter((c) => c.startsWith(CHAIN_PREFIX)) : [];
}
