import Database from 'better-sqlite3';
import { indexKeysOf, type AnyEntity, type FloatingIp, type Kind, type Port } from '../../src/model/index.js';

/**
 * What must hold in the SQLite store whatever moment a writer died: SQLite's own integrity check, every
 * resource's secondary keys exactly as the model derives them (a half-applied write would leave a resource
 * without its keys or keys without their resource), a change-feed entry for every resource, and floating IPs
 * that point at ports which exist and carry that fixed IP.
 */
export function storeIntegrityProblems(path: string): string[] {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const problems: string[] = [];
    const check = db.pragma('integrity_check', { simple: true });
    if (check !== 'ok') problems.push(`integrity_check: ${String(check)}`);
    const rows = db
      .prepare<[], { kind: Kind; id: string; body: string }>('SELECT kind, id, body FROM resources')
      .all();
    const stored = new Map<string, Set<string>>();
    for (const k of db
      .prepare<[], { key: string; kind: string; id: string; uniq: number }>('SELECT * FROM index_keys')
      .all()) {
      const owner = `${k.kind}/${k.id}`;
      if (!stored.has(owner)) stored.set(owner, new Set());
      stored.get(owner)!.add(`${k.key}|${k.uniq}`);
    }
    const entities = new Map<string, AnyEntity>();
    for (const row of rows) {
      const entity = JSON.parse(row.body) as AnyEntity;
      entities.set(`${row.kind}/${row.id}`, entity);
      const want = new Set(indexKeysOf(row.kind, entity).map((k) => `${k.key}|${k.unique ? 1 : 0}`));
      const have = stored.get(`${row.kind}/${row.id}`) ?? new Set();
      for (const k of want) if (!have.has(k)) problems.push(`${row.kind} ${row.id} lacks index key ${k}`);
      for (const k of have)
        if (!want.has(k)) problems.push(`${row.kind} ${row.id} has a stray index key ${k}`);
    }
    for (const owner of stored.keys()) {
      if (!entities.has(owner)) problems.push(`index keys of ${owner}, which does not exist`);
    }
    const changed = new Set(
      db
        .prepare<[], { kind: string; id: string }>('SELECT DISTINCT kind, id FROM changes')
        .all()
        .map((c) => `${c.kind}/${c.id}`),
    );
    for (const owner of entities.keys())
      if (!changed.has(owner)) problems.push(`${owner} has no change-feed entry`);
    for (const [owner, entity] of entities) {
      if (!owner.startsWith('floatingip/')) continue;
      const fip = entity as FloatingIp;
      if (fip.portId === null) continue;
      const port = entities.get(`port/${fip.portId}`) as Port | undefined;
      if (!port?.fixedIps.some((ip) => ip.ipAddress === fip.fixedIpAddress)) {
        problems.push(
          `floating IP ${fip.floatingIpAddress} points at ${fip.portId}/${fip.fixedIpAddress}, which does not exist`,
        );
      }
    }
    return problems;
  } finally {
    db.close();
  }
}
