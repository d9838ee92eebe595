import { EventEmitter } from 'node:events';

import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import {
  applyStatusPatch,
  conflict,
  type FloatingIp,
  type FloatingIpStatusPatch,
  indexKeysOf,
  type IndexRef,
  portsOfDeviceKey,
  type Kind,
  type KindMap,
  type RangeOptions,
  type Tx,
  type View,
  SfipError,
} from '../../model/index.js';
import { StoreError } from '../errors.js';
import { diagnoseStateDir } from '../state-dir-diagnosis.js';
import type { Change, ChangeBatch, ChangesOptions, Store } from '../store.js';
import type { TokenStore } from '../token-store.js';
import { MIGRATIONS, SCHEMA_VERSION } from './migrations.js';
import { ensurePrivateDatabase } from '../../fs/private-file.js';
import { SqliteTokenStore } from './sqlite-token-store.js';
import { WalCheckpointer, type CheckpointOptions } from './wal-checkpointer.js';
import type { WriteTurns } from './write-turn-client.js';
import { isStructuralWrite, StructureMemo } from './structure-memo.js';
import { makeDirectories } from '../../fs/make-directories.js';

/** How many changes the feed keeps. A reader further behind than this re-lists everything. */
const CHANGE_RETENTION = 200_000;

export interface SqliteStoreOptions {
  /** Database file, or ':memory:' for tests. */
  readonly path: string;
  /** WAL checkpoints on a worker thread (see WalCheckpointer); defaults suit the daemon. */
  readonly checkpoint?: CheckpointOptions;
  /**
   * How long one attempt to take a lock waits, in SQLite's busy handler, which sleeps on the event loop; 250 ms.
   * A group commit tries again, off the loop, until `lockWaitMs` (see commitPending).
   */
  readonly busyTimeoutMs?: number;
  /** How long a group commit keeps trying to take the write lock before its updates fail with "locked"; 5 s. */
  readonly lockWaitMs?: number;
}

/**
 * The embedded default store. WAL mode lets the agent read while the API writes; every model operation runs in
 * an IMMEDIATE transaction (shared by a group commit, see update), which serialises writers, so allocation can
 * never hand out an address twice.
 * synchronous=NORMAL keeps every acknowledged write across a process crash (WAL is fsynced at checkpoints).
 */
/**
 * The change feed's first and last sequence numbers. Two subqueries, not MIN and MAX in one SELECT: SQLite
 * answers a lone MIN or MAX from the primary key's b-tree, but both in one query scan the whole table (60 ms
 * at 300,000 changes, paid on every read of the feed: it was most of an API call's 50 ms at 100,000 floating IPs).
 */
export const CHANGE_BOUNDS_SQL =
  'SELECT (SELECT MIN(seq) FROM changes) AS lo, (SELECT MAX(seq) FROM changes) AS hi';

export class SqliteStore implements Store {
  readonly description: string;
  readonly tokens: TokenStore;
  private readonly db: Database.Database;
  private readonly rangeStatements = new Map<string, Database.Statement<unknown[], unknown>>();
  private readonly events = new EventEmitter();
  private writesSincePrune = 0;
  private readonly stmt;
  /** Writes waiting for the next group commit; `run` calls `onWrite` when it writes anything. */
  private pending: {
    run: (onWrite: () => void) => unknown;
    resolve: (value: unknown) => void;
    reject: (error: unknown) => void;
  }[] = [];
  /** The outer transaction of a group commit, and the savepoint each update runs in (nested transactions). */
  private readonly runBatch: Database.Transaction<(body: () => void) => void>;
  private readonly runSavepoint: Database.Transaction<(body: () => unknown) => unknown>;
  private readonly checkpointer: WalCheckpointer | undefined;
  /** One read transaction over one view object, both built once: reads are the API's hottest path. */
  private readonly runRead: Database.Transaction<(fn: (view: View) => unknown) => unknown>;

  private readonly path: string;
  private readonly lockWaitMs: number;
  /** Set while a group commit that could not take the write lock waits to try again (see commitPending). */
  private lockRetry: { readonly timer: NodeJS.Timeout; readonly since: number } | undefined;
  /** Turns shared with the other processes that write this database (useWriteTurns), and whether one is asked. */
  private turns: WriteTurns | undefined;
  private turnAsked = false;
  /** Answers kept while no router, port, subnet or network changes (see StructureMemo). */
  private readonly structureMemo: StructureMemo;

  constructor(options: SqliteStoreOptions) {
    this.description = `sqlite:${options.path}`;
    this.path = options.path;
    this.lockWaitMs = options.lockWaitMs ?? 5000;
    this.db = openDatabase(options.path, options.busyTimeoutMs ?? 250);
    this.events.setMaxListeners(0);
    this.tokens = new SqliteTokenStore(this.db);
    if (options.path !== ':memory:') {
      this.checkpointer = new WalCheckpointer(options.path, options.checkpoint);
      this.db.pragma('wal_autocheckpoint = 0');
    }
    const db = this.db;
    this.structureMemo = new StructureMemo(db, CHANGE_RETENTION);
    // Each transaction checks the memo against the feed once at most (StructureMemo.within).
    this.runBatch = db.transaction((body: () => void) => this.structureMemo.within(body));
    this.runSavepoint = db.transaction((body: () => unknown) => body());
    const view = this.view();
    this.runRead = db.transaction((fn: (view: View) => unknown) => this.structureMemo.within(() => fn(view)));
    this.stmt = {
      // Documents are read as text alone (plucked): no row object per document. On a copy of a 100,000-floating-IP
      // store, CPU of listing the floating IPs 440-490 -> 350-430 ms, of a subnet's 100,000 ports 480-580 -> 370-410
      // ms, of 100,000 gets (a status write's reads) 590-610 -> 540-555 ms, each with its JSON.parse.
      get: db
        .prepare<[string, string], string>('SELECT body FROM resources WHERE kind = ? AND id = ?')
        .pluck(),
      list: db.prepare<[string], string>('SELECT body FROM resources WHERE kind = ?').pluck(),
      lookup: db.prepare<[string], IndexRef>('SELECT kind, id FROM index_keys WHERE key = ?'),
      count: db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM index_keys WHERE key = ?'),
      find: db
        .prepare<[string, string], string>(
          'SELECT r.body FROM index_keys k JOIN resources r ON r.kind = k.kind AND r.id = k.id WHERE k.key = ? AND k.kind = ?',
        )
        .pluck(),
      // routerFor's search (see View.devicesWithPort): the routers on a network that own a port on a subnet, in
      // the index alone. With 100 routers on the external network, a query per router's ports (and their documents)
      // was about a fifth of the daemon's CPU in a churn of 1,000 association changes per second (0.42 ms per
      // association); this query took a third to a half of those queries' time on a copy of that store.
      devicesWithPort: db
        .prepare<[string, string, string], string>(
          // CROSS JOIN keeps this order (SQLite's planner otherwise walked every port's keys first): the routers
          // (about 100), each one's ports (2-3), then whether that port holds the subnet's key.
          `SELECT DISTINCT o.id FROM index_keys o
             CROSS JOIN index_keys d ON d.key = ? || o.id AND d.kind = 'port'
             CROSS JOIN index_keys p ON p.key = ? AND p.kind = 'port' AND p.id = d.id
           WHERE o.key = ? ORDER BY o.id`,
        )
        .pluck(),
      upsert: db.prepare(
        'INSERT INTO resources (kind, id, body) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET body = excluded.body',
      ),
      remove: db.prepare('DELETE FROM resources WHERE kind = ? AND id = ?'),
      dropKeys: db.prepare('DELETE FROM index_keys WHERE kind = ? AND id = ?'),
      // The key alone: index_keys_owner covers it (asking for uniq too cost a table lookup per key).
      keysOf: db
        .prepare<[string, string], string>('SELECT key FROM index_keys WHERE kind = ? AND id = ?')
        .pluck(),
      dropKey: db.prepare('DELETE FROM index_keys WHERE key = ? AND kind = ? AND id = ?'),
      addKey: db.prepare('INSERT INTO index_keys (key, kind, id, uniq) VALUES (?, ?, ?, ?)'),
      change: db.prepare('INSERT INTO changes (kind, id, op, at, structural) VALUES (?, ?, ?, ?, ?)'),
      // One statement for a whole status write's feed rows (the ids as a JSON array, in their order): one INSERT per
      // id was 177 ms of CPU in 100,000 statuses, this 62 ms (on a copy of a 100,000-floating-IP store).
      statusChanges: db.prepare<[string, string, string]>(
        "INSERT INTO changes (kind, id, op, at, status_only) SELECT ?, value, 'put', ?, 1 FROM json_each(?) ORDER BY key",
      ),
      rewrite: db.prepare('UPDATE resources SET body = ? WHERE kind = ? AND id = ?'),
      since: db.prepare<[number, number], ChangeRow>(
        'SELECT seq, kind, id, op, status_only AS statusOnly FROM changes WHERE seq > ? ORDER BY seq LIMIT ?',
      ),
      // Skipped inside SQLite: a row passed over there costs a fraction of one made into a JavaScript object.
      sinceNotStatusOnly: db.prepare<[number, number], ChangeRow>(
        'SELECT seq, kind, id, op, status_only AS statusOnly FROM changes WHERE seq > ? AND status_only = 0 ORDER BY seq LIMIT ?',
      ),
      bounds: db.prepare<[], { lo: number | null; hi: number | null }>(CHANGE_BOUNDS_SQL),
      latest: db.prepare<[], { seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 'changes'"),
      prune: db.prepare('DELETE FROM changes WHERE seq <= ?'),
    };
  }

  async read<T>(fn: (view: View) => T): Promise<T> {
    return this.runRead(fn) as T;
  }

  /**
   * Group commit: updates requested in the same turn of the event loop run together in one IMMEDIATE
   * transaction, each inside its own savepoint. One that throws is rolled back alone and rejected; the others
   * commit with a single WAL write, which is what lets 32 concurrent API clients allocate at a thousand a
   * second. Each caller still sees its own update atomically, and a later read sees it once the promise resolves.
   */
  update<T>(fn: (tx: Tx) => T): Promise<T> {
    return this.enqueue((onWrite) => fn(this.tx(onWrite)));
  }

  /**
   * In the same group commit as `update`. Each document is parsed for the model's rule and written back whole, but
   * its index keys are not read or rewritten (a status is no index key): that was most of what a status write
   * through `update` cost. The rule runs here, not in SQL: one statement over json_each with json_set cost as much
   * CPU or more, and so did fewer binding calls (every document of a chunk read, or written, by one statement):
   * SQLite's rewrite of the rows is most of the cost either way (bench/store/status-patch.ts).
   */
  updateStatuses(
    kind: 'floatingip',
    patches: readonly FloatingIpStatusPatch[],
    updatedAt: string,
  ): Promise<number> {
    return this.enqueue((onWrite) => {
      const written: string[] = [];
      for (const patch of patches) {
        const body = this.stmt.get.get(kind, patch.id);
        if (body === undefined) continue;
        const entity = applyStatusPatch(JSON.parse(body) as FloatingIp, patch, updatedAt);
        if (!entity) continue;
        this.stmt.rewrite.run(JSON.stringify(entity), kind, patch.id);
        written.push(patch.id);
      }
      if (written.length === 0) return 0;
      this.stmt.statusChanges.run(kind, updatedAt, JSON.stringify(written));
      onWrite();
      return written.length;
    });
  }

  /**
   * From now on, each group commit waits for this process's turn (write-turn-server.ts) before it takes SQLite's
   * write lock, so that it finds the lock free instead of sleeping in SQLite's busy handler. Updates requested while
   * it waits join it.
   */
  useWriteTurns(turns: WriteTurns): void {
    this.turns = turns;
  }

  private enqueue<T>(run: (onWrite: () => void) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ run, resolve: resolve as (value: unknown) => void, reject });
      if (this.pending.length === 1 && !this.lockRetry && !this.turnAsked) setImmediate(() => this.flush());
    });
  }

  /**
   * Commits the pending updates in this process's turn. A turn that does not come within `lockWaitMs` (a process
   * stuck in its turn) is not waited for any longer: the commit goes ahead, SQLite's lock still keeps writers apart,
   * and the turn is ended as soon as it comes.
   */
  private flush(final = false): void {
    const turns = this.turns;
    if (!turns || final) return this.commit(final);
    if (this.turnAsked) return;
    this.turnAsked = true;
    let settled = false;
    const go = () => {
      settled = true;
      this.turnAsked = false;
      if (this.db.open) this.commit(false);
    };
    const timer = setTimeout(go, this.lockWaitMs);
    void turns.take().then(() => {
      clearTimeout(timer);
      if (settled) return turns.end();
      try {
        go();
      } finally {
        turns.end();
      }
    });
  }

  private commit(final: boolean): void {
    const since = this.lockRetry?.since ?? performance.now();
    clearTimeout(this.lockRetry?.timer);
    this.lockRetry = undefined;
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    const outcomes: ({ ok: true; value: unknown; wrote: boolean } | { ok: false; error: unknown })[] = [];
    try {
      this.runBatch.immediate(() => {
        for (const item of batch) {
          let wrote = false;
          try {
            const value = this.runSavepoint(() => item.run(() => (wrote = true)));
            outcomes.push({ ok: true, value, wrote });
          } catch (error) {
            outcomes.push({ ok: false, error: translateSqliteError(error, this.path) });
          }
        }
      });
    } catch (error) {
      this.structureMemo.ended(false);
      if (!final && outcomes.length === 0 && isBusy(error) && performance.now() - since < this.lockWaitMs) {
        this.commitPending(batch, since);
        return;
      }
      const failure = translateSqliteError(error, this.path);
      for (const item of batch) item.reject(failure);
      return;
    }
    this.structureMemo.ended(outcomes.every((o) => o.ok));
    let wrote = false;
    outcomes.forEach((outcome, i) => {
      if (outcome.ok) {
        wrote ||= outcome.wrote;
        batch[i]!.resolve(outcome.value);
      } else {
        batch[i]!.reject(outcome.error);
      }
    });
    if (wrote) {
      this.maybePrune();
      this.events.emit('change');
    }
  }

  /**
   * A group commit whose BEGIN IMMEDIATE could not take the write lock (nothing of it ran) is tried again shortly,
   * ahead of updates queued since, in order, until `lockWaitMs` has passed. Two reasons:
   * - SQLite's busy handler sleeps on the event loop: a 5 s busy timeout let another process's lock stop every
   *   API request for 5 s. Each attempt now waits at most `busyTimeoutMs`, and the loop runs between them.
   * - SQLite does not always wait out its busy timeout: while a checkpoint restarted a WAL of hundreds of MB,
   *   writers got "database is locked" after 70 ms, and the agent's status write of 100,000 floating IPs failed
   *   its whole pass, which ran again from the start.
   */
  private commitPending(batch: typeof this.pending, since: number): void {
    this.pending = [...batch, ...this.pending];
    const waited = performance.now() - since;
    const timer = setTimeout(() => this.flush(), Math.min(250, Math.max(10, waited / 4)));
    this.lockRetry = { timer, since };
  }

  async changesSince(seq: number, limit = 10_000, options?: ChangesOptions): Promise<ChangeBatch> {
    const bounds = this.stmt.bounds.get();
    const latest = this.stmt.latest.get()?.seq ?? 0;
    const truncated = bounds?.lo != null && seq < bounds.lo - 1;
    const rows = (options?.withoutStatusOnly ? this.stmt.sinceNotStatusOnly : this.stmt.since).all(
      seq,
      limit,
    );
    const changes = rows.map(({ statusOnly, ...change }) =>
      statusOnly === 1 ? { ...change, statusOnly: true as const } : change,
    );
    if (!options?.withoutStatusOnly) return { changes, latest, truncated };
    // `latest` was read first: the rows' read sees at least as far, so a short page has every change up to it.
    const last = changes.at(-1)?.seq ?? seq;
    return { changes, latest, truncated, through: changes.length < limit ? Math.max(last, latest) : last };
  }

  onChange(listener: () => void): () => void {
    this.events.on('change', listener);
    return () => this.events.off('change', listener);
  }

  async close(): Promise<void> {
    if (this.db.open && this.pending.length > 0) this.flush(true);
    this.turns?.close();
    // The checkpointer's connection goes first, so that closing the main one is the last close, which
    // checkpoints the rest of the WAL and removes it.
    await this.checkpointer?.stop();
    if (this.db.open) this.db.close();
  }

  private view(): View {
    const parse = <K extends Kind>(body: string | undefined) =>
      body === undefined ? undefined : (JSON.parse(body) as KindMap[K]);
    return {
      get: (kind, id) => parse(this.stmt.get.get(kind, id)),
      list: (kind) => this.stmt.list.all(kind).map((body) => JSON.parse(body)),
      lookup: (key) => this.stmt.lookup.all(key),
      count: (key) => this.stmt.count.get(key)?.n ?? 0,
      find: (kind, key) => this.stmt.find.all(key, kind).map((body) => JSON.parse(body)),
      range: (kind, options) => this.range(kind, options).map((row) => JSON.parse(row.body)),
      rangeDocuments: (kind, options) => this.rangeDocuments(kind, options),
      getDocument: (kind, id) => this.stmt.get.get(kind, id),
      findDocuments: (kind, key) => this.stmt.find.all(key, kind),
      devicesWithPort: (key, portKey) => this.stmt.devicesWithPort.all(portsOfDeviceKey(''), portKey, key),
      structural: (key, read) => this.structureMemo.get(key, read),
    };
  }

  /** One indexed range read: (kind, id) on resources, or (key, kind, id) on index_keys when a key is given. */
  private range(kind: Kind, options: RangeOptions): { body: string }[] {
    return this.rangeStatement(options, false).all(rangeParameters(kind, options)) as { body: string }[];
  }

  /** The same read as `range`, each row's document text alone (plucked: no row object per document). */
  private rangeDocuments(kind: Kind, options: RangeOptions): string[] {
    return this.rangeStatement(options, true).all(rangeParameters(kind, options)) as string[];
  }

  private rangeStatement(options: RangeOptions, pluck: boolean): Database.Statement<unknown[], unknown> {
    const shape = `${options.key === undefined ? 'all' : 'key'}/${options.after === undefined ? 'start' : 'after'}/${options.descending ? 'desc' : 'asc'}/${pluck ? 'text' : 'row'}`;
    let statement = this.rangeStatements.get(shape);
    if (!statement) {
      const [cmp, dir] = options.descending ? ['<', 'DESC'] : ['>', 'ASC'];
      const sql =
        options.key === undefined
          ? `SELECT body FROM resources WHERE kind = @kind${options.after === undefined ? '' : ` AND id ${cmp} @after`} ORDER BY id ${dir} LIMIT @limit`
          : `SELECT r.body FROM index_keys k JOIN resources r ON r.kind = k.kind AND r.id = k.id WHERE k.key = @key AND k.kind = @kind${options.after === undefined ? '' : ` AND k.id ${cmp} @after`} ORDER BY k.id ${dir} LIMIT @limit`;
      statement = this.db.prepare<unknown[], unknown>(sql).pluck(pluck);
      this.rangeStatements.set(shape, statement);
    }
    return statement;
  }

  /** A port's stored text before a write (isStructuralWrite needs it); other kinds' are not read. */
  private bodyBefore(kind: string, id: string): string | undefined {
    return kind === 'port' ? this.stmt.get.get(kind, id) : undefined;
  }

  private tx(onWrite: () => void): Tx {
    const now = () => new Date().toISOString();
    return {
      ...this.view(),
      put: (kind, entity) => {
        onWrite();
        const body = JSON.stringify(entity);
        const structural = isStructuralWrite(kind, this.bodyBefore(kind, entity.id), body);
        this.structureMemo.wrote(kind, structural);
        this.stmt.upsert.run(kind, entity.id, body);
        // Only the keys that changed are written: most writes (a status, a name) keep every key, and each
        // index row touches three b-trees. Rewriting all of them made a status write of 100,000 floating IPs
        // take 8 s.
        // A key's uniqueness is part of what the key is (the model derives both from the same field), so a key
        // held already is left as it is.
        const held = new Set(this.stmt.keysOf.all(kind, entity.id));
        for (const key of indexKeysOf(kind, entity)) {
          if (held.delete(key.key)) continue;
          this.stmt.addKey.run(key.key, kind, entity.id, key.unique ? 1 : 0);
        }
        for (const key of held) this.stmt.dropKey.run(key, kind, entity.id);
        this.stmt.change.run(kind, entity.id, 'put', now(), structural ? 1 : 0);
      },
      delete: (kind, id) => {
        onWrite();
        const structural = isStructuralWrite(kind, this.bodyBefore(kind, id), undefined);
        this.structureMemo.wrote(kind, structural);
        this.stmt.remove.run(kind, id);
        this.stmt.dropKeys.run(kind, id);
        this.stmt.change.run(kind, id, 'delete', now(), structural ? 1 : 0);
      },
    };
  }

  private maybePrune(): void {
    if (++this.writesSincePrune < 1000) return;
    this.writesSincePrune = 0;
    const hi = this.stmt.bounds.get()?.hi ?? 0;
    if (hi > CHANGE_RETENTION) this.stmt.prune.run(hi - CHANGE_RETENTION);
  }
}

type ChangeRow = Omit<Change, 'statusOnly'> & { readonly statusOnly: 0 | 1 };

function rangeParameters(kind: Kind, options: RangeOptions): Record<string, unknown> {
  return {
    kind,
    limit: options.limit,
    ...(options.key !== undefined && { key: options.key }),
    ...(options.after !== undefined && { after: options.after }),
  };
}

/**
 * SQLite's page cache per connection, in KiB when negative. better-sqlite3 builds with 16 MiB; a full scan of a
 * 100,000-floating-IP store (485 MB) fills it, and the daemon keeps it: 14 MiB of its RSS. Its pages are the
 * kernel's page cache anyway (a miss is one pread), and the same scan took as long with 2 MiB (185-235 ms both).
 */
const CACHE_SIZE = -4096;

function openDatabase(path: string, busyTimeoutMs: number): Database.Database {
  let db: Database.Database | undefined;
  try {
    if (path !== ':memory:') {
      makeDirectories(dirname(path));
      ensurePrivateDatabase(path);
    }
    db = new Database(path, { timeout: busyTimeoutMs });
    // A database from a newer sfip is refused before anything (the journal mode included) can change the file.
    refuseNewerSchema(db, path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.pragma(`cache_size = ${CACHE_SIZE}`);
    // Every update runs in a savepoint (group commit, see update), and SQLite keeps the first image of each page a
    // savepoint changes in a statement journal, which it spills to a temporary file past 64 KiB. A port or a floating
    // IP changes about 20 pages (its document, its index keys in three b-trees, the feed): each of those was written
    // to that file, a write(2) of 4 bytes and one of 4 KiB per page, 80% of the daemon's file writes while filling
    // through the API. In memory, the journal is a copy of pages that are in the cache anyway, freed at the
    // savepoint's release. Measured on a copy of a 100,000-floating-IP store (bench/store/create-pairs.ts), CPU
    // per port and floating IP created: one transaction each 1.12 -> 0.88 ms, 16 per group commit 0.62 -> 0.49 ms.
    // Temporary tables and sorts also stay in memory: the store's queries sort along an index, but for the tokens'
    // list (a few rows).
    db.pragma('temp_store = MEMORY');
  } catch (error) {
    if (db?.open) db.close();
    if (error instanceof StoreError) throw error;
    throw new StoreError(
      `Cannot open the state database at ${path}: ${(error as Error).message}. ${explain(error, path)}`,
    );
  }
  migrate(db, path);
  return db;
}

/** What to do about a failed open or write, from the error code and the state of the directory. */
function explain(error: unknown, path: string): string {
  const code = (error as { code?: string }).code ?? '';
  if (isLocked(error)) {
    return (
      'Another process holds a lock on it (another sfip serve with this state directory, or a tool in a long ' +
      `transaction): stop that process (fuser ${path} names it), or choose another --state-dir.`
    );
  }
  if (path === ':memory:') return '';
  return diagnoseStateDir(dirname(path), code.startsWith('SQLITE_IOERR') ? '' : code);
}

function refuseNewerSchema(db: Database.Database, path: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    db.close();
    throw new StoreError(
      `The state database at ${path} has schema version ${version}, newer than this sfip understands (${SCHEMA_VERSION}). ` +
        'Run the newer sfip that wrote it, or restore a backup; it was left untouched.',
    );
  }
}

function migrate(db: Database.Database, path: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  try {
    for (let v = version; v < SCHEMA_VERSION; v++) {
      db.transaction(() => {
        db.exec(MIGRATIONS[v]!);
        db.pragma(`user_version = ${v + 1}`);
      }).immediate();
    }
  } catch (error) {
    db.close();
    throw new StoreError(
      `Cannot bring the state database at ${path} to schema version ${SCHEMA_VERSION}: ${(error as Error).message}. ${explain(error, path)}`,
    );
  }
}

/** Another connection holds the write lock (SQLITE_BUSY and its extended codes): waiting may help. */
const isBusy = (error: unknown) => (error as { code?: string }).code?.startsWith('SQLITE_BUSY') === true;
/** Busy, or locked within a connection: either way a lock, not the change, made it fail. */
const isLocked = (error: unknown) =>
  isBusy(error) || (error as { code?: string }).code?.startsWith('SQLITE_LOCKED') === true;

function translateSqliteError(error: unknown, path: string): unknown {
  if (error instanceof SfipError) return error;
  const code = (error as { code?: string }).code ?? '';
  if (code.startsWith('SQLITE_CONSTRAINT')) {
    return conflict(
      'Conflict',
      `The change conflicts with an existing resource (${(error as Error).message}).`,
    );
  }
  if (isLocked(error)) {
    return new SfipError(
      'ServiceUnavailable',
      503,
      `The state database ${path} is locked by another process; retry. If it stays locked, find the holder with fuser ${path}. Nothing was changed.`,
    );
  }
  if (
    code === 'SQLITE_FULL' ||
    code === 'SQLITE_READONLY' ||
    code.startsWith('SQLITE_IOERR') ||
    code === 'SQLITE_CANTOPEN'
  ) {
    return new SfipError(
      'ServiceUnavailable',
      503,
      `The state database ${path} cannot be written (${code}). ${explain(error, path)} Nothing was changed.`,
    );
  }
  return error;
}
