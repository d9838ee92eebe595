import type { Change, ChangeBatch } from '../store.js';

/**
 * The recent resource changes the mirror has seen, in revision order, for `changesSince`. A change's sequence
 * number is the etcd revision that made it; changes found by a re-list share the revision of that listing.
 * A reader older than what is retained is told `truncated` and must re-list.
 */
export class ChangeLog {
  private changes: Change[] = [];
  /** Every change after this revision is retained. */
  private floor: number;

  constructor(
    startRevision: number,
    private readonly retention = 100_000,
  ) {
    this.floor = startRevision;
  }

  append(change: Change): void {
    this.changes.push(change);
    if (this.changes.length > this.retention * 1.25) {
      const drop = this.changes.length - this.retention;
      // Never split the changes of one revision: a reader resumes after a whole revision.
      let cut = drop;
      while (cut < this.changes.length && this.changes[cut]!.seq === this.changes[cut - 1]!.seq) cut++;
      this.floor = this.changes[cut - 1]!.seq;
      this.changes = this.changes.slice(cut);
    }
  }

  since(seq: number, latest: number, limit: number): ChangeBatch {
    if (seq < this.floor) return { changes: [], latest, truncated: true };
    let lo = 0;
    let hi = this.changes.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.changes[mid]!.seq <= seq) lo = mid + 1;
      else hi = mid;
    }
    let end = Math.min(this.changes.length, lo + Math.max(0, limit));
    while (end > lo && end < this.changes.length && this.changes[end]!.seq === this.changes[end - 1]!.seq)
      end++;
    return { changes: this.changes.slice(lo, end), latest, truncated: false };
  }
}
