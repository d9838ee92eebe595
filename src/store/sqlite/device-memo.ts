import type Database from 'better-sqlite3';

/** Past this many, the memo starts again empty: one entry per (network, subnet) asked about. */
const MAX_ENTRIES = 10_000;

/**
 * Answers of View.devicesWithPort, kept while the change feed shows no write of a router or a port since they
 * were read. Those answers depend only on index keys of routers (their gateway network) and of ports (their
 * device, their subnets), and every write of either is a row on the feed, in the same transaction: so an answer
 * read at feed position N still holds at position M when no router or port row lies in (N, M]. With 100 routers
 * on the external network, the query walks every router's ports: 0.15 ms per association, 9 of the daemon's 66
 * busy seconds in a churn of 1,000 associations a second (CPU profile), for an answer that never changed.
 *
 * Exact across processes (API workers, the CLI): their writes are rows on the same feed. Within this process,
 * a group commit that writes a router or a port keeps the memo out of its transaction, and any group commit that
 * writes one or rolls anything back empties it: the feed's sequence numbers of a rolled-back write are used again,
 * so a position this memo has seen could later name another writer's router or port.
 */
export class DeviceMemo {
  private readonly entries = new Map<string, readonly string[]>();
  /** The feed position up to which the entries are known to hold; undefined: none is kept. */
  private through: number | undefined;
  /** A router or a port was written in the group commit in progress: not committed, it may yet roll back. */
  private structureWritten = false;
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
        "SELECT 1 FROM changes WHERE seq > ? AND seq <= ? AND kind IN ('router', 'port') LIMIT 1",
      )
      .pluck();
  }

  /** The answer for this key, from the memo when it still holds, else from `read` (kept for the next call). */
  get(key: string, read: () => string[]): string[] {
    if (this.structureWritten) return read();
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
    const kept = this.entries.get(key);
    // A copy: callers may sort or change what they get.
    if (kept) return [...kept];
    const answer = read();
    if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
    this.entries.set(key, [...answer]);
    return answer;
  }

  /** A write of `kind` in the group commit in progress. */
  wrote(kind: string): void {
    if (kind === 'router' || kind === 'port') this.structureWritten = true;
  }

  /** The group commit ended; `clean`: it committed with no update rolled back. */
  ended(clean: boolean): void {
    if (this.structureWritten || !clean) this.reset();
    this.structureWritten = false;
  }

  private reset(): void {
    this.entries.clear();
    this.through = undefined;
  }
}
