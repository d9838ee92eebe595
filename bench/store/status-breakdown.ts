/**
 * Where the CPU of a status write of every floating IP goes, step by step, on one copy of a populated state (issue 15:
 * SqliteStore.updateStatuses was ~2.5 s of a 1 x 100,000 converge's critical path). Each step runs over every
 * floating IP in id order, in IMMEDIATE transactions of STATUS_CHUNK as the status writer sends them (the JavaScript
 * steps outside any), and prints its wall and CPU milliseconds:
 * - the store's steps: the read of the text, JSON.parse, the model's rule and JSON.stringify, the rewrite of the row;
 * - a side table's steps: the rule's fields read by SQLite's JSON paths (with and without the side table's join), the
 *   members appended on read built as text, the upsert of a narrow row (new, existing, without that text);
 * - the feed rows (one statement per chunk, as the store writes them).
 * The rewrite and the read of the text alone are more than half of the store's write: the bound on what any change
 * of the JSON side can save (see bench/store/status-patch.ts for the candidates whole). Run it under the bench lock:
 * `flock /work/bench.lock node --import tsx bench/store/status-breakdown.ts --from-state DIR`.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { STATUS_CHUNK } from '../../src/agent/status-writer.js';
import { applyStatusPatch, floatingIpStatusPatch, type FloatingIp } from '../../src/model/index.js';

const { values } = parseArgs({ options: { 'from-state': { type: 'string' } } });
const source = values['from-state'];
if (!source) throw new Error('--from-state DIR is required (a state directory with a populated sfip.db)');

const dir = mkdtempSync(join(tmpdir(), 'sfip-status-breakdown-'));
try {
  cpSync(source, dir, { recursive: true });
  const db = new Database(join(dir, 'sfip.db'));
  // As the store opens it (openDatabase's pragmas).
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('cache_size = -4096');
  db.pragma('temp_store = MEMORY');
  steps(db);
  db.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}

function steps(db: Database.Database): void {
  const ids = db
    .prepare<[], string>("SELECT id FROM resources WHERE kind = 'floatingip' ORDER BY id")
    .pluck()
    .all();
  const at = new Date().toISOString();
  const chunkTx = db.transaction((from: number, each: (id: string, i: number) => void) => {
    for (let i = from; i < Math.min(from + STATUS_CHUNK, ids.length); i++) each(ids[i]!, i);
  });
  const measure = (what: string, each: (id: string, i: number) => void, inTransactions = true) => {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    if (inTransactions)
      for (let from = 0; from < ids.length; from += STATUS_CHUNK) chunkTx.immediate(from, each);
    else ids.forEach(each);
    const cpu = process.cpuUsage(cpu0);
    console.log(
      `${what}: ${(performance.now() - t0).toFixed(0)} ms (CPU ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms), ` +
        `load ${loadavg()[0]!.toFixed(1)}`,
    );
  };

  const get = db
    .prepare<[string], string>("SELECT body FROM resources WHERE kind = 'floatingip' AND id = ?")
    .pluck();
  const bodies: string[] = [];
  measure('read the text', (id, i) => (bodies[i] = get.get(id)!));
  const documents: FloatingIp[] = [];
  measure('JSON.parse', (_, i) => (documents[i] = JSON.parse(bodies[i]!) as FloatingIp), false);
  const revised: string[] = [];
  measure(
    'the rule and JSON.stringify',
    (_, i) => {
      const current = documents[i]!;
      revised[i] = JSON.stringify(
        applyStatusPatch(current, floatingIpStatusPatch(current, 'ACTIVE', ''), at),
      );
    },
    false,
  );

  const fields = `r.body ->> '$.routerId', r.body ->> '$.fixedIpAddress'`;
  const alone = db
    .prepare(
      `SELECT ${fields}, r.body ->> '$.status', r.body ->> '$.statusReason', r.body ->> '$.revisionNumber'
       FROM resources r WHERE r.kind = 'floatingip' AND r.id = ?`,
    )
    .raw();
  measure("the rule's fields by JSON paths", (id) => alone.get(id));
  db.exec(`CREATE TABLE statuses (kind TEXT NOT NULL, id TEXT NOT NULL, status TEXT NOT NULL,
    status_reason TEXT NOT NULL, updated_at TEXT NOT NULL, revision_number INTEGER NOT NULL, tail TEXT NOT NULL,
    PRIMARY KEY (kind, id)) WITHOUT ROWID`);
  const joined = db
    .prepare(
      `SELECT ${fields}, coalesce(s.status, r.body ->> '$.status'),
         iif(s.kind IS NULL, r.body ->> '$.statusReason', s.status_reason),
         coalesce(s.revision_number, r.body ->> '$.revisionNumber')
       FROM resources r LEFT JOIN statuses s ON s.kind = r.kind AND s.id = r.id
       WHERE r.kind = 'floatingip' AND r.id = ?`,
    )
    .raw();
  measure('the same joined with an empty side table', (id) => joined.get(id));
  const atJson = JSON.stringify(at);
  const tails: string[] = [];
  measure(
    'the members appended on read, as text',
    (_, i) =>
      (tails[i] =
        `,"status":${JSON.stringify('ACTIVE')},"statusReason":${JSON.stringify('')},"updatedAt":${atJson},"revisionNumber":${i}}`),
    false,
  );
  const upsert = db.prepare<[string, string, string, string, number, string]>(
    `INSERT INTO statuses (kind, id, status, status_reason, updated_at, revision_number, tail)
     VALUES ('floatingip', ?, ?, ?, ?, ?, ?)
     ON CONFLICT DO UPDATE SET status = excluded.status, status_reason = excluded.status_reason,
       updated_at = excluded.updated_at, revision_number = excluded.revision_number, tail = excluded.tail`,
  );
  measure('upsert a new narrow row', (id, i) => upsert.run(id, 'ACTIVE', '', at, i, tails[i]!));
  measure('upsert an existing narrow row', (id, i) => upsert.run(id, 'ACTIVE', '', at, i + 1, tails[i]!));
  measure('the fields joined with a full side table', (id) => joined.get(id));
  db.exec(`CREATE TABLE bare (kind TEXT NOT NULL, id TEXT NOT NULL, status TEXT NOT NULL, status_reason TEXT NOT NULL,
    updated_at TEXT NOT NULL, revision_number INTEGER NOT NULL, PRIMARY KEY (kind, id)) WITHOUT ROWID`);
  const bare = db.prepare<[string, string, string, string, number]>(
    "INSERT INTO bare VALUES ('floatingip', ?, ?, ?, ?, ?)",
  );
  measure('insert a new narrow row without the text', (id, i) => bare.run(id, 'ACTIVE', '', at, i));

  const rewrite = db.prepare<[string, string]>(
    "UPDATE resources SET body = ? WHERE kind = 'floatingip' AND id = ?",
  );
  measure('rewrite the row', (id, i) => rewrite.run(revised[i]!, id));
  const feed = db.prepare<[string, string]>(
    "INSERT INTO changes (kind, id, op, at, status_only) SELECT 'floatingip', value, 'put', ?, 1 FROM json_each(?) ORDER BY key",
  );
  const feedTx = db.transaction((from: number) =>
    feed.run(at, JSON.stringify(ids.slice(from, from + STATUS_CHUNK))),
  );
  const cpu0 = process.cpuUsage();
  for (let from = 0; from < ids.length; from += STATUS_CHUNK) feedTx.immediate(from);
  const cpu = process.cpuUsage(cpu0);
  console.log(`the feed rows: CPU ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms`);
}
