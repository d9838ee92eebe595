/**
 * Where a converge's status write (every floating IP ACTIVE, in chunks of STATUS_CHUNK) should apply the model's
 * status patch rule (applyStatusPatch), on copies of a populated state:
 * - `store`: the store's way, SqliteStore.updateStatuses: each document read, parsed, revised in JavaScript by the
 *   rule, and written back whole, one binding call each for the read and the write;
 * - `sql`: the same rule as one statement per chunk, the chunk's patches given as a JSON array: UPDATE ... FROM
 *   json_each with json_set, RETURNING the ids written (their feed rows as the store writes them).
 * Checks that both leave the same documents (parsed), then prints wall and CPU milliseconds of each round; on a
 * shared machine CPU is the steadier figure. Run it under the bench lock:
 * `flock /work/bench.lock node --import tsx bench/store/status-patch.ts --from-state DIR [--rounds 3]`.
 */
import { deepStrictEqual } from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { STATUS_CHUNK } from '../../src/agent/status-writer.js';
import { floatingIpStatusPatch, type FloatingIpStatusPatch } from '../../src/model/index.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';

const { values } = parseArgs({
  options: { 'from-state': { type: 'string' }, rounds: { type: 'string', default: '3' } },
});
const source = values['from-state'];
if (!source) throw new Error('--from-state DIR is required (a state directory with a populated sfip.db)');

/** One clock for every run, so that their documents can be compared. */
const at = new Date().toISOString();

/**
 * The rule in SQL. Expected fields compare type and value (json_type tells JSON null from an absent field, which
 * ->> does not); a set field differs when it is absent or not the same text. Its own feed rows, as the store's.
 * MATERIALIZED: otherwise SQLite scans every floating IP and looks each up in the patches.
 */
const SQL_PATCH = `
  WITH p AS MATERIALIZED (
    SELECT value ->> 0 AS pid, value ->> 1 AS router, value ->> 2 AS fixed, value ->> 3 AS status,
      value ->> 4 AS reason FROM json_each(@patches))
  UPDATE resources AS r SET body = json_set(r.body, '$.status', p.status, '$.statusReason', p.reason,
    '$.updatedAt', @at, '$.revisionNumber', (r.body ->> '$.revisionNumber') + 1)
  FROM p
  WHERE r.kind = 'floatingip' AND r.id = p.pid
    AND +(json_type(r.body, '$.routerId') IS iif(p.router IS NULL, 'null', 'text'))
    AND +((r.body ->> '$.routerId') IS p.router)
    AND +(json_type(r.body, '$.fixedIpAddress') IS iif(p.fixed IS NULL, 'null', 'text'))
    AND +((r.body ->> '$.fixedIpAddress') IS p.fixed)
    AND (json_type(r.body, '$.status') IS NOT 'text' OR (r.body ->> '$.status') IS NOT p.status
      OR json_type(r.body, '$.statusReason') IS NOT 'text' OR (r.body ->> '$.statusReason') IS NOT p.reason)
  RETURNING id`;

interface Measured {
  readonly wallMs: number;
  readonly cpuMs: number;
  readonly written: number;
  readonly documents: Map<string, unknown>;
}

/** Runs `write` over every chunk of patches on a fresh copy of the state, and reads back every floating IP. */
async function onCopy(
  write: (path: string, chunks: readonly (readonly FloatingIpStatusPatch[])[]) => Promise<number>,
): Promise<Measured> {
  const dir = mkdtempSync(join(tmpdir(), 'sfip-status-patch-'));
  try {
    cpSync(source!, dir, { recursive: true });
    const path = join(dir, 'sfip.db');
    const chunks = patchesOf(path);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const written = await write(path, chunks);
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const db = new Database(path, { readonly: true });
    const rows = db
      .prepare<[], { id: string; body: string }>("SELECT id, body FROM resources WHERE kind = 'floatingip'")
      .all();
    db.close();
    const documents = new Map(rows.map((r) => [r.id, JSON.parse(r.body) as unknown]));
    return { wallMs, cpuMs: (cpu.user + cpu.system) / 1000, written, documents };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every floating IP reported ACTIVE for the association it has, in id order, as the status writer chunks them. */
function patchesOf(path: string): FloatingIpStatusPatch[][] {
  const db = new Database(path, { readonly: true });
  const fips = db
    .prepare<[], { id: string; routerId: string | null; fixedIpAddress: string | null }>(
      `SELECT id, body ->> '$.routerId' AS routerId, body ->> '$.fixedIpAddress' AS fixedIpAddress
       FROM resources WHERE kind = 'floatingip' ORDER BY id`,
    )
    .all();
  db.close();
  const patches = fips.map((f) =>
    floatingIpStatusPatch({ ...f, fixedIpAddress: f.fixedIpAddress as never }, 'ACTIVE', ''),
  );
  const chunks: FloatingIpStatusPatch[][] = [];
  for (let start = 0; start < patches.length; start += STATUS_CHUNK)
    chunks.push(patches.slice(start, start + STATUS_CHUNK));
  return chunks;
}

const viaStore = async (path: string, chunks: readonly (readonly FloatingIpStatusPatch[])[]) => {
  const store = new SqliteStore({ path });
  let written = 0;
  for (const chunk of chunks) written += await store.updateStatuses('floatingip', chunk, at);
  await store.close();
  return written;
};

const viaSql = async (path: string, chunks: readonly (readonly FloatingIpStatusPatch[])[]) => {
  // Opened as the store opens it (openDatabase's pragmas), one IMMEDIATE transaction per chunk.
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('cache_size = -4096');
  db.pragma('temp_store = MEMORY');
  const patch = db.prepare<[{ patches: string; at: string }], string>(SQL_PATCH).pluck();
  const feed = db.prepare<[string, string]>(
    "INSERT INTO changes (kind, id, op, at, status_only) SELECT 'floatingip', value, 'put', ?, 1 FROM json_each(?) ORDER BY key",
  );
  const chunkTx = db.transaction((chunk: readonly FloatingIpStatusPatch[]) => {
    const rows = chunk.map((p) => [
      p.id,
      p.expect.routerId,
      p.expect.fixedIpAddress,
      p.set.status,
      p.set.statusReason,
    ]);
    const ids = new Set(patch.all({ patches: JSON.stringify(rows), at }));
    // RETURNING's order is SQLite's: the feed rows go in the patches' order, as the store writes them.
    const written = chunk.map((p) => p.id).filter((id) => ids.has(id));
    if (written.length > 0) feed.run(at, JSON.stringify(written));
    return written.length;
  });
  let written = 0;
  for (const chunk of chunks) written += chunkTx.immediate(chunk);
  db.close();
  return written;
};

const report = (what: string, m: Measured) =>
  console.log(
    `${what}: ${m.written} written in ${m.wallMs.toFixed(0)} ms (CPU ${m.cpuMs.toFixed(0)} ms), load ${loadavg()[0]!.toFixed(2)}`,
  );

for (let round = 1; round <= Number(values.rounds); round++) {
  const store = await onCopy(viaStore);
  report(`round ${round} store`, store);
  const sql = await onCopy(viaSql);
  report(`round ${round} sql`, sql);
  if (round === 1) {
    deepStrictEqual(sql.written, store.written);
    deepStrictEqual(sql.documents, store.documents);
    console.log(`the two leave the same ${store.documents.size} documents`);
  }
}
