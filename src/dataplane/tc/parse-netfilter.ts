import { JUMP_COMMENT_PREFIX } from './naming.js';

/** `iptables-save` output, table by table: chain -> rules (the text after `-A CHAIN `), in order. */
export type SavedTables = ReadonlyMap<string, ReadonlyMap<string, readonly string[]>>;

export function parseIptablesSave(text: string): SavedTables {
  const tables = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) {
      current = new Map();
      tables.set(line.slice(1).trim(), current);
    } else if (current && line.startsWith(':')) {
      const chain = line.slice(1).split(' ')[0]!;
      if (!current.has(chain)) current.set(chain, []);
    } else if (current && line.startsWith('-A ')) {
      const rest = line.slice(3);
      const space = rest.indexOf(' ');
      const chain = space < 0 ? rest : rest.slice(0, space);
      const rule = space < 0 ? '' : rest.slice(space + 1);
      if (!current.has(chain)) current.set(chain, []);
      current.get(chain)!.push(rule);
    }
  }
  return tables;
}

/** Router ids named by sfip-tc jump comments in any table: the routers this backend holds state for. */
export function routerIdsInSave(tables: SavedTables): string[] {
  const ids = new Set<string>();
  const pattern = new RegExp(`--comment "?${JUMP_COMMENT_PREFIX}([0-9a-f-]{36})"?`);
  for (const chains of tables.values()) {
    for (const rules of chains.values()) {
      for (const rule of rules) {
        const id = pattern.exec(rule)?.[1];
        if (id) ids.add(id);
      }
    }
  }
  return [...ids].sort();
}

/** Members of the sets in `ipset save` output. */
export function parseIpsetSave(text: string): Map<string, Set<string>> {
  const sets = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    const [verb, name, member] = line.trim().split(/\s+/);
    if (!name) continue;
    if (verb === 'create' && !sets.has(name)) sets.set(name, new Set());
    if (verb === 'add' && member) {
      if (!sets.has(name)) sets.set(name, new Set());
      sets.get(name)!.add(member);
    }
  }
  return sets;
}
