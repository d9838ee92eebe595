/**
 * Where a converge's status write (every floating IP ACTIVE, in chunks of STATUS_CHUNK) should apply the model's
 * status patch rule (applyStatusPatch), and what each layout then costs the reads, on copies of a populated state:
 * - `store`: the store's way, SqliteStore.updateStatuses: each document read, parsed, revised in JavaScript by the
 *   rule, and written back whole, one binding call each for the read and the write;
 * - `sql`: the same rule as one statement per chunk, the chunk's patches given as a JSON array: UPDATE ... FROM
 *   json_each with json_set, RETURNING the ids written (their feed rows as the store writes them);
 * - `narrow`: a side table `statuses` holding a floating IP's status fields while they are newer than its document
 *   (a full write would fold them back); a status write reads the association and the current status by SQLite's
 *   JSON paths (the row's fields when it has one) and upserts the row alone. Reads append the row's members to the
 *   document in SQL (JSON.parse keeps the last of a repeated member), or merge in JavaScript (also printed);
 * - `narrow-json-set`: the same write, reads merging with json_set;
 * - `narrow-assoc`: the side table holding every floating IP's association too (filled by a migration, kept by every
 *   full write), so a status write reads the narrow row alone, no JSON; every read merges.
 * Checks that every way leaves the same documents (parsed), then prints wall and CPU milliseconds of the write and
 * the CPU of reads after it (median of 3): every floating IP parsed (list), pages of 1,000 as text in id order
 * (rangeDocuments) and by the router's index key (find), a get of each. On a shared machine CPU is the steadier
 * figure. Run it under the bench lock:
 * `flock /work/bench.lock node --import tsx bench/store/status-patch.ts --from-state DIR [--rounds 3] [--only ...]`.
 *
 * On a copy of a 1 x 100,000 store (2 cores, load 4-17 from other work; medians of 3 rounds, CPU ms per 100,000
 * statuses, then the reads): store 1,377 (1,337-1,795), list 273, page 0.85, key page 1.55, gets 448; narrow 1,073
 * (859-1,118), list 501, page 2.70, key page 2.98, gets 721 (merged in JavaScript: list 535, gets 649); narrow-assoc
 * 813 (659-1,183), list 646, page 2.29, key page 2.87, gets 724. No side table halves the write, and once a converge
 * has given every floating IP a row every read pays the join and the merge: +45% to +220%. Where the store's time
 * goes (bench/store/status-breakdown.ts, medians of 3): read the text 179, JSON.parse 252, the rule and
 * JSON.stringify 319, rewrite the row 445, feed rows 59. Read, rewrite and feed alone are 683 of those 1,254 ms, so
 * no change to the JSON side alone can halve the write either.
 * Page size (--page-size, at load 2-3, 3 rounds, store only): as stored (4 KiB) 1,146 ms (1,094-1,188), VACUUMed at
 * 4 KiB 1,136 (1,031-1,303), at 16 KiB 958 (940-978) with the reads no dearer (list 209 vs 252, gets 366 vs 426):
 * -16%, not half (and a later single round at 16 KiB gave 1,268: within the noise of this machine).
 */
import { deepStrictEqual } from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { STATUS_CHUNK } from '../../src/agent/status-writer.js';
import { fipOfRouterKey, floatingIpStatusPatch, type FloatingIpStatusPatch } from '../../src/model/index.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';

const { values } = parseArgs({
  options: {
    'from-state': { type: 'string' },
    rounds: { type: 'string', default: '3' },
    // Which ways to run, comma-separated: store, sql, narrow, narrow-json-set, narrow-assoc.
    only: { type: 'string', default: 'store,narrow,narrow-json-set,narrow-assoc' },
    // Each copy rebuilt by VACUUM with this page size (bytes) before anything runs on it.
    'page-size': { type: 'string' },
  },
});
const ways = new Set(values.only.split(','));
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

/** The reads after a status write, each the median CPU ms of READ_ROUNDS (reads change nothing). */
interface Reads {
  /** Every floating IP, parsed (View.list, the API's full list without the cache). */
  readonly listMs: number;
  /** The 100 pages of 1,000 documents in id order (View.rangeDocuments), as text; per page. */
  readonly pageMs: number;
  /** The 100 pages of 1,000 documents of the router's index key (View.find / rangeDocuments with a key); per page. */
  readonly keyPageMs: number;
  /** A get of each floating IP, parsed (View.get), per 100,000. */
  readonly getsMs: number;
  /** With a side table: the list and the gets merged in JavaScript (the row's columns assigned to the parsed body). */
  readonly listJsMs?: number;
  readonly getsJsMs?: number;
}

interface Measured {
  readonly wallMs: number;
  readonly cpuMs: number;
  readonly written: number;
  readonly documents: Map<string, unknown>;
  readonly reads: Reads;
}

const READ_ROUNDS = 3;
const PAGE = 1_000;

/** How one layout reads a floating IP's document: the stored text, or it merged with its status row. */
interface Layout {
  /** SQL for the document text of `r` (resources), with `s` (statuses) joined when the layout has one. */
  readonly text: string;
  readonly join: string;
}
const DOCUMENT: Layout = { text: 'r.body', join: '' };
/** The status row's members appended to the document: JSON.parse keeps the last of a repeated member. */
const NARROW: Layout = {
  text: 'iif(s.tail IS NULL, r.body, substr(r.body, 1, length(r.body) - 1) || s.tail)',
  join: 'LEFT JOIN statuses s ON s.kind = r.kind AND s.id = r.id',
};
/** The same merge by json_set (for comparison only: it re-renders every merged document). */
const NARROW_JSON_SET: Layout = {
  text: `iif(s.tail IS NULL, r.body, json_set(r.body, '$.status', s.status, '$.statusReason', s.status_reason,
    '$.updatedAt', s.updated_at, '$.revisionNumber', s.revision_number))`,
  join: NARROW.join,
};

function cpuOf(fn: () => void): number {
  const cpu0 = process.cpuUsage();
  fn();
  const cpu = process.cpuUsage(cpu0);
  return (cpu.user + cpu.system) / 1000;
}

const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** The reads of the API and the agent, as the store's statements make them, in `layout`. */
function measureReads(db: Database.Database, layout: Layout, routerKey: string): Reads {
  const list = db
    .prepare<[], string>(`SELECT ${layout.text} FROM resources r ${layout.join} WHERE r.kind = 'floatingip'`)
    .pluck();
  const page = db
    .prepare<[string, number], string>(
      `SELECT ${layout.text} FROM resources r ${layout.join} WHERE r.kind = 'floatingip' AND r.id > ? ORDER BY r.id LIMIT ?`,
    )
    .pluck();
  const keyPage = db
    .prepare<[string, string, number], string>(
      `SELECT ${layout.text} FROM index_keys k JOIN resources r ON r.kind = k.kind AND r.id = k.id ${layout.join}
       WHERE k.key = ? AND k.kind = 'floatingip' AND k.id > ? ORDER BY k.id LIMIT ?`,
    )
    .pluck();
  const get = db
    .prepare<[string], string>(
      `SELECT ${layout.text} FROM resources r ${layout.join} WHERE r.kind = 'floatingip' AND r.id = ?`,
    )
    .pluck();
  const ids = db
    .prepare<[], string>("SELECT id FROM resources WHERE kind = 'floatingip' ORDER BY id")
    .pluck()
    .all();
  const walk = (next: (after: string) => string[]) => {
    let after = '';
    let pages = 0;
    for (;;) {
      const texts = next(after);
      pages++;
      if (texts.length < PAGE) return pages;
      after = (JSON.parse(texts.at(-1)!) as { id: string }).id;
    }
  };
  const rounds = (fn: () => void) => median(Array.from({ length: READ_ROUNDS }, () => cpuOf(fn)));
  let pages = 0;
  let keyPages = 0;
  const js = layout.join === '' ? undefined : jsMerge(db);
  return {
    ...(js && {
      listJsMs: rounds(() => js.list.all().forEach(js.merge)),
      getsJsMs: rounds(() => ids.forEach((id) => js.merge(js.get.get(id)!))),
    }),
    listMs: rounds(() => list.all().forEach((text) => JSON.parse(text))),
    pageMs: rounds(() => (pages = walk((after) => page.all(after, PAGE)))) / pages,
    keyPageMs: rounds(() => (keyPages = walk((after) => keyPage.all(routerKey, after, PAGE)))) / keyPages,
    getsMs: rounds(() => ids.forEach((id) => JSON.parse(get.get(id)!))),
  };
}

type StatusRow = [string, string | null, string | null, string | null, number | null];

/** Reads of the side table's layout that merge in JavaScript: the document parsed, the row's fields assigned. */
function jsMerge(db: Database.Database) {
  const columns = `r.body, s.status, s.status_reason, s.updated_at, s.revision_number FROM resources r ${NARROW.join}`;
  return {
    list: db.prepare<[], StatusRow>(`SELECT ${columns} WHERE r.kind = 'floatingip'`).raw(),
    get: db.prepare<[string], StatusRow>(`SELECT ${columns} WHERE r.kind = 'floatingip' AND r.id = ?`).raw(),
    merge: ([body, status, statusReason, updatedAt, revisionNumber]: StatusRow) => {
      const document = JSON.parse(body) as Record<string, unknown>;
      if (status === null) return document;
      document.status = status;
      document.statusReason = statusReason;
      document.updatedAt = updatedAt;
      document.revisionNumber = revisionNumber;
      return document;
    },
  };
}

/**
 * Runs `write` over every chunk of patches on a fresh copy of the state, reads back every floating IP, and measures
 * the reads in `layout`.
 */
async function onCopy(
  layout: Layout,
  write: (path: string, chunks: readonly (readonly FloatingIpStatusPatch[])[]) => Promise<number>,
  prepare?: (db: Database.Database) => void,
): Promise<Measured> {
  const dir = mkdtempSync(join(tmpdir(), 'sfip-status-patch-'));
  try {
    cpSync(source!, dir, { recursive: true });
    const path = join(dir, 'sfip.db');
    if (values['page-size']) vacuum(path, Number(values['page-size']));
    if (prepare) {
      const db = new Database(path);
      prepare(db);
      db.close();
    }
    const chunks = patchesOf(path);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const written = await write(path, chunks);
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const db = new Database(path, { readonly: true });
    const texts = db
      .prepare<[], string>(
        `SELECT ${layout.text} FROM resources r ${layout.join} WHERE r.kind = 'floatingip'`,
      )
      .pluck()
      .all();
    const documents = new Map(
      texts.map((text) => [(JSON.parse(text) as { id: string }).id, JSON.parse(text) as unknown]),
    );
    const reads = measureReads(db, layout, fipOfRouterKey(chunks[0]![0]!.expect.routerId!));
    db.close();
    return { wallMs, cpuMs: (cpu.user + cpu.system) / 1000, written, documents, reads };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Rebuilds the database with another page size (which WAL mode does not allow to change). */
function vacuum(path: string, pageSize: number): void {
  const db = new Database(path);
  db.pragma('journal_mode = DELETE');
  db.pragma(`page_size = ${pageSize}`);
  db.exec('VACUUM');
  db.pragma('journal_mode = WAL');
  db.close();
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

/** Opened as the store opens it (openDatabase's pragmas). */
function openLikeStore(path: string): Database.Database {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('cache_size = -4096');
  db.pragma('temp_store = MEMORY');
  return db;
}

const FEED_SQL =
  "INSERT INTO changes (kind, id, op, at, status_only) SELECT 'floatingip', value, 'put', ?, 1 FROM json_each(?) ORDER BY key";

const viaSql = async (path: string, chunks: readonly (readonly FloatingIpStatusPatch[])[]) => {
  // One IMMEDIATE transaction per chunk.
  const db = openLikeStore(path);
  const patch = db.prepare<[{ patches: string; at: string }], string>(SQL_PATCH).pluck();
  const feed = db.prepare<[string, string]>(FEED_SQL);
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

/**
 * The narrow side table: a floating IP's status fields, when newer than its document, in a row of their own, with
 * the members they replace as JSON text (`tail`) for reads to append. A status write reads the association and the
 * current status (SQLite's JSON path on the document, the row when there is one) and writes the row alone.
 */
const NARROW_TABLE = `
  CREATE TABLE statuses (
    kind TEXT NOT NULL, id TEXT NOT NULL, status TEXT NOT NULL, status_reason TEXT NOT NULL,
    updated_at TEXT NOT NULL, revision_number INTEGER NOT NULL, tail TEXT NOT NULL,
    PRIMARY KEY (kind, id)
  ) WITHOUT ROWID`;

const viaNarrow = async (path: string, chunks: readonly (readonly FloatingIpStatusPatch[])[]) => {
  const db = openLikeStore(path);
  const current = db
    .prepare<[string], [string | null, string | null, string, string | null, number]>(
      `SELECT r.body ->> '$.routerId', r.body ->> '$.fixedIpAddress', coalesce(s.status, r.body ->> '$.status'),
         iif(s.kind IS NULL, r.body ->> '$.statusReason', s.status_reason),
         coalesce(s.revision_number, r.body ->> '$.revisionNumber')
       FROM resources r LEFT JOIN statuses s ON s.kind = r.kind AND s.id = r.id
       WHERE r.kind = 'floatingip' AND r.id = ?`,
    )
    .raw();
  const upsert = db.prepare<[string, string, string, string, number, string]>(
    `INSERT INTO statuses (kind, id, status, status_reason, updated_at, revision_number, tail)
     VALUES ('floatingip', ?, ?, ?, ?, ?, ?)
     ON CONFLICT DO UPDATE SET status = excluded.status, status_reason = excluded.status_reason,
       updated_at = excluded.updated_at, revision_number = excluded.revision_number, tail = excluded.tail`,
  );
  const feed = db.prepare<[string, string]>(FEED_SQL);
  const atJson = JSON.stringify(at);
  const chunkTx = db.transaction((chunk: readonly FloatingIpStatusPatch[]) => {
    const written: string[] = [];
    for (const p of chunk) {
      const row = current.get(p.id);
      if (!row) continue;
      const [routerId, fixed, status, reason, revision] = row;
      if (routerId !== p.expect.routerId || fixed !== p.expect.fixedIpAddress) continue;
      if (status === p.set.status && reason === p.set.statusReason) continue;
      const next = revision + 1;
      const tail = `,"status":${JSON.stringify(p.set.status)},"statusReason":${JSON.stringify(p.set.statusReason)},"updatedAt":${atJson},"revisionNumber":${next}}`;
      upsert.run(p.id, p.set.status, p.set.statusReason, at, next, tail);
      written.push(p.id);
    }
    if (written.length > 0) feed.run(at, JSON.stringify(written));
    return written.length;
  });
  let written = 0;
  for (const chunk of chunks) written += chunkTx.immediate(chunk);
  db.close();
  return written;
};

/**
 * The side table holding every floating IP's association as well (router_id, fixed_ip_address), filled by the
 * migration and kept by every full write: a status write then reads the narrow row alone, no JSON at all. Every
 * floating IP has a row, so every read merges.
 */
const ASSOC_TABLE = `
  CREATE TABLE statuses (
    kind TEXT NOT NULL, id TEXT NOT NULL, router_id TEXT, fixed_ip_address TEXT, status TEXT NOT NULL,
    status_reason TEXT, updated_at TEXT NOT NULL, revision_number INTEGER NOT NULL, tail TEXT NOT NULL,
    PRIMARY KEY (kind, id)
  ) WITHOUT ROWID;
  INSERT INTO statuses
    SELECT kind, id, body ->> '$.routerId', body ->> '$.fixedIpAddress', body ->> '$.status',
      body ->> '$.statusReason', body ->> '$.updatedAt', body ->> '$.revisionNumber',
      ',"status":' || json_quote(body ->> '$.status') || ',"statusReason":' || json_quote(body ->> '$.statusReason')
        || ',"updatedAt":' || json_quote(body ->> '$.updatedAt') || ',"revisionNumber":' || (body ->> '$.revisionNumber')
        || '}'
    FROM resources WHERE kind = 'floatingip'`;

const viaNarrowAssoc = async (path: string, chunks: readonly (readonly FloatingIpStatusPatch[])[]) => {
  const db = openLikeStore(path);
  const current = db
    .prepare<[string], [string | null, string | null, string, string | null, number]>(
      `SELECT router_id, fixed_ip_address, status, status_reason, revision_number FROM statuses
       WHERE kind = 'floatingip' AND id = ?`,
    )
    .raw();
  const update = db.prepare<[string, string, string, number, string, string]>(
    `UPDATE statuses SET status = ?, status_reason = ?, updated_at = ?, revision_number = ?, tail = ?
     WHERE kind = 'floatingip' AND id = ?`,
  );
  const feed = db.prepare<[string, string]>(FEED_SQL);
  const atJson = JSON.stringify(at);
  const chunkTx = db.transaction((chunk: readonly FloatingIpStatusPatch[]) => {
    const written: string[] = [];
    for (const p of chunk) {
      const row = current.get(p.id);
      if (!row) continue;
      const [routerId, fixed, status, reason, revision] = row;
      if (routerId !== p.expect.routerId || fixed !== p.expect.fixedIpAddress) continue;
      if (status === p.set.status && reason === p.set.statusReason) continue;
      const next = revision + 1;
      const tail = `,"status":${JSON.stringify(p.set.status)},"statusReason":${JSON.stringify(p.set.statusReason)},"updatedAt":${atJson},"revisionNumber":${next}}`;
      update.run(p.set.status, p.set.statusReason, at, next, tail, p.id);
      written.push(p.id);
    }
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
    `${what}: ${m.written} written in ${m.wallMs.toFixed(0)} ms (CPU ${m.cpuMs.toFixed(0)} ms); then CPU ms: ` +
      `list ${m.reads.listMs.toFixed(0)}, page of ${PAGE} ${m.reads.pageMs.toFixed(2)}, key page of ${PAGE} ` +
      `${m.reads.keyPageMs.toFixed(2)}, 100,000 gets ${m.reads.getsMs.toFixed(0)}` +
      (m.reads.listJsMs === undefined
        ? ''
        : `, merged in JavaScript: list ${m.reads.listJsMs.toFixed(0)}, gets ${m.reads.getsJsMs!.toFixed(0)}`) +
      `; load ${loadavg()[0]!.toFixed(2)}`,
  );

let reference: Measured | undefined;
const check = (what: string, m: Measured) => {
  if (!reference) {
    reference = m;
    return;
  }
  deepStrictEqual(m.written, reference.written);
  deepStrictEqual(m.documents, reference.documents);
  console.log(`${what} leaves the same ${m.documents.size} documents`);
};
const createTable = (db: Database.Database) => db.exec(NARROW_TABLE);

for (let round = 1; round <= Number(values.rounds); round++) {
  const runs: [string, () => Promise<Measured>][] = [
    ['store', () => onCopy(DOCUMENT, viaStore)],
    ['sql', () => onCopy(DOCUMENT, viaSql)],
    ['narrow', () => onCopy(NARROW, viaNarrow, createTable)],
    ['narrow-json-set', () => onCopy(NARROW_JSON_SET, viaNarrow, createTable)],
    ['narrow-assoc', () => onCopy(NARROW, viaNarrowAssoc, (db) => db.exec(ASSOC_TABLE))],
  ];
  for (const [what, run] of runs) {
    if (!ways.has(what)) continue;
    const m = await run();
    report(`round ${round} ${what}`, m);
    if (round === 1) check(what, m);
  }
}
