import type Database from 'better-sqlite3';

/** Past this many, the memo starts again empty: a few entries per router and per (network, subnet) asked about. */
const MAX_ENTRIES = 10_000;

/** The kinds whose writes end every kept answer (see View.structural), a port's only when it is structural. */
const STRUCTURE_KINDS: ReadonlySet<string> = new Set(['router', 'port', 'subnet', 'network']);

/**
 * A router's port as JSON.stringify writes it (the model's Port, deviceOwner `network:router_interface`,
 * `network:router_gateway`, ...). Text that merely contains it elsewhere (a name) only makes a write count as
 * structural when it need not: never the other way.
 */
const ROUTER_OWNED = '"deviceOwner":"network:';

/**
 * Whether a write (its stored text before and after; undefined: none) can change an answer the memo keeps.
 * Every kept answer reads routers, subnets, networks and routers' ports only: routerFor's search keeps the ports
 * whose owner is network:router_interface, and a router's structure and trusted interfaces are read from its
 * interface ports (model: searchRouter, routerStructure, trustedJoints). A VM's port, neither before nor after the
 * write a router's, changes none of them, even with another router's id as its device: the owner test drops it.
 * So filling a cloud, where every floating IP comes with a new port, keeps the memo.
 */
export function isStructuralWrite(
  kind: string,
  before: string | undefined,
  after: string | undefined,
): boolean {
  if (!STRUCTURE_KINDS.has(kind)) return false;
  if (kind !== 'port') return true;
  return !!before?.includes(ROUTER_OWNED) || !!after?.includes(ROUTER_OWNED);
}

/**
 * Answers that depend only on routers, routers' ports, subnets and networks (View.structural: routerFor's search, a
 * router's structure and trusted interfaces for the agent's deltas), kept while the change feed shows no write of
 * any of them since they were read. Every write of a resource is a row on the feed, in the same transaction: so an
 * answer read at feed position N still holds at position M when no such row lies in (N, M]. With 100 routers on
 * the external network, routerFor's query alone walks every router's ports: 0.15 ms per association, 9 of the
 * daemon's 66 busy seconds in a churn of 1,000 associations a second (CPU profile), for an answer that never
 * changed.
 *
 * Exact across processes (API workers, the CLI): their writes are rows on the same feed. Within this process,
 * a group commit that writes one of these kinds keeps the memo out of its transaction, and any group commit that
 * writes one or rolls anything back empties it: the feed's sequence numbers of a rolled-back write are used again,
 * so a position this memo has seen could later name another writer's router or port.
 */
export class StructureMemo {
  private readonly entries = new Map<string, unknown>();
  /** The feed position up to which the entries are known to hold; undefined: none is kept. */
  private through: number | undefined;
  /** One of the kinds was written in the group commit in progress: not committed, it may yet roll back. */
  private structureWritten = false;
  /**
   * Inside a transaction (see within) whose first ask has checked the feed: the entries hold for the rest of it.
   * A transaction's reads see one snapshot, so no other process's write can show up in it after that check; this
   * process's own writes in it are floating IPs and the like (a write of one of the kinds sets structureWritten,
   * and every ask after it reads). The check was two statements, about 17 µs, and a delta asks twice.
   */
  private checkedInTransaction = false;
  private inTransaction = false;
  private readonly latest: Database.Statement<[], number>;
  private readonly structureChange: Database.Statement<[number, number], number>;

  constructor(
    db: Database.Database,
    /** How many changes the feed keeps: rows older than that may be gone. */
    private readonly retention: number,
  ) {
    this.latest = db.prepare<[], number>("SELECT seq FROM sqlite_sequence WHERE name = 'changes'").pluck();
    this.structureChange = db
      .prepare<[number, number], number>(
        `SELECT 1 FROM changes WHERE seq > ? AND seq <= ? AND kind IN (${[...STRUCTURE_KINDS].map((k) => `'${k}'`).join(', ')}) AND structural = 1 LIMIT 1`,
      )
      .pluck();
  }

  /** The answer for this key, from the memo when it still holds, else from `read` (kept for the next call). */
  get<T>(key: string, read: () => T): T {
    if (this.structureWritten) return read();
    if (!this.checkedInTransaction) this.check();
    if (this.entries.has(key)) return this.entries.get(key) as T;
    const answer = read();
    if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
    this.entries.set(key, answer);
    return answer;
  }

  /**
   * Runs `body`, one SQLite transaction (a read, or a group commit: the caller opens it), checking the feed at
   * most once in it (see checkedInTransaction). Not for savepoints: they run inside a group commit's transaction.
   */
  within<T>(body: () => T): T {
    this.inTransaction = true;
    this.checkedInTransaction = false;
    try {
      return body();
    } finally {
      this.inTransaction = false;
      this.checkedInTransaction = false;
    }
  }

  /** Empties the entries unless the feed shows they still hold, and notes the position it checked. */
  private check(): void {
    const latest = this.latest.get() ?? 0;
    const through = this.through;
    if (
      through === undefined ||
      latest < through ||
      latest - through >= this.retention ||
      (latest > through && this.structureChange.get(through, latest) !== undefined)
    )
      this.entries.clear();
    this.through = latest;
    this.checkedInTransaction = this.inTransaction;
  }

  /** A write in the group commit in progress; `structural`: isStructuralWrite's answer for it. */
  wrote(kind: string, structural: boolean): void {
    if (structural && STRUCTURE_KINDS.has(kind)) this.structureWritten = true;
  }

  /** The group commit ended; `clean`: it committed with no update rolled back. */
  ended(clean: boolean): void {
    if (this.structureWritten || !clean) this.reset();
    this.structureWritten = false;
  }

  private reset(): void {
    this.entries.clear();
    this.through = undefined;
    this.checkedInTransaction = false;
  }
}
