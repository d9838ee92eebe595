/**
 * What a status write of every floating IP costs SQLite itself, by where the status lives, on a copy of a
 * populated state (issue 15: the status write was the biggest phase of a 100,000 converge):
 * - `document`: the store's way: each document read, parsed and rewritten whole (the feed rows left out);
 * - `json_set`: the same rewrite done in SQL (json_set on the stored text), one UPDATE per floating IP;
 * - `narrow table`: status fields in a table of their own (not the store's layout; a design under study), one UPDATE
 *   per floating IP, and what listing every floating IP costs when each document is merged with its row in SQL.
 * Prints wall and CPU milliseconds of this process; on a shared machine CPU is the steadier figure. Run it under
 * the bench lock: `flock /work/bench.lock node --import tsx bench/store/status-layouts.ts --from-state DIR`.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';

const { values } = parseArgs({ options: { 'from-state': { type: 'string' } } });
const source = values['from-state'];
if (!source) throw new Error('--from-state DIR is required (a state directory with a populated sfip.db)');

/** Statuses per transaction, as the agent's status writer chunks them. */
const CHUNK = 2_000;

function measure(what: string, fn: () => void): void {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  fn();
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  console.log(
    `${what}: ${(performance.now() - t0).toFixed(0)} ms (CPU ${cpuMs.toFixed(0)} ms), load ${loadavg()[0]!.toFixed(2)}`,
  );
}

/** Runs `fn` on a fresh copy of the state's database, opened as the store opens it. */
function onCopy(fn: (db: Database.Database, ids: readonly string[]) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'sfip-status-layouts-'));
  try {
    cpSync(source!, dir, { recursive: true });
    const db = new Database(join(dir, 'sfip.db'));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('cache_size = -4096');
    db.pragma('temp_store = MEMORY');
    const ids = db
      .prepare<[], string>("SELECT id FROM resources WHERE kind = 'floatingip' ORDER BY id")
      .pluck()
      .all();
    fn(db, ids);
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function inChunks(db: Database.Database, ids: readonly string[], each: (id: string) => void): void {
  const run = db.transaction((chunk: readonly string[]) => chunk.forEach(each));
  for (let start = 0; start < ids.length; start += CHUNK) run.immediate(ids.slice(start, start + CHUNK));
}

const at = new Date().toISOString();

onCopy((db, ids) => {
  const get = db
    .prepare<[string], string>("SELECT body FROM resources WHERE kind = 'floatingip' AND id = ?")
    .pluck();
  const rewrite = db.prepare<[string, string]>(
    "UPDATE resources SET body = ? WHERE kind = 'floatingip' AND id = ?",
  );
  measure(`document: ${ids.length} read, parsed and rewritten`, () =>
    inChunks(db, ids, (id) => {
      const current = JSON.parse(get.get(id)!) as { revisionNumber: number };
      const next = { ...current, status: 'ACTIVE', statusReason: '', updatedAt: at };
      next.revisionNumber = current.revisionNumber + 1;
      rewrite.run(JSON.stringify(next), id);
    }),
  );
});

onCopy((db, ids) => {
  const update = db.prepare<[string, string]>(
    `UPDATE resources SET body = json_set(body, '$.status', 'ACTIVE', '$.statusReason', '', '$.updatedAt', ?,
       '$.revisionNumber', (body ->> '$.revisionNumber') + 1)
     WHERE kind = 'floatingip' AND id = ? AND body ->> '$.status' IS NOT 'ACTIVE'`,
  );
  measure(`json_set: ${ids.length} rewritten in SQL`, () => inChunks(db, ids, (id) => update.run(at, id)));
});

onCopy((db, ids) => {
  db.exec(`
    CREATE TABLE statuses (id TEXT PRIMARY KEY, status TEXT NOT NULL, reason TEXT NOT NULL,
      updated_at TEXT NOT NULL, revision INTEGER NOT NULL) WITHOUT ROWID;
    INSERT INTO statuses SELECT id, body ->> '$.status', body ->> '$.statusReason', body ->> '$.updatedAt',
      body ->> '$.revisionNumber' FROM resources WHERE kind = 'floatingip';`);
  const update = db.prepare<[string, string]>(
    "UPDATE statuses SET status = 'ACTIVE', reason = '', updated_at = ?, revision = revision + 1 WHERE id = ?",
  );
  measure(`narrow table: ${ids.length} rows updated`, () => inChunks(db, ids, (id) => update.run(at, id)));
  const plain = db.prepare("SELECT body FROM resources WHERE kind = 'floatingip'").pluck();
  const merged = db
    .prepare(
      `SELECT json_set(r.body, '$.status', s.status, '$.statusReason', s.reason, '$.updatedAt', s.updated_at,
         '$.revisionNumber', s.revision)
       FROM resources r JOIN statuses s ON s.id = r.id WHERE r.kind = 'floatingip'`,
    )
    .pluck();
  measure('list every floating IP document, as stored', () => plain.all());
  measure('list every floating IP document, merged with its status row', () => merged.all());
});
