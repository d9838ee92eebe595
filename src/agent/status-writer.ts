import {
  floatingIpStatusPatch,
  type Context,
  type FloatingIp,
  type FloatingIpStatus,
} from '../model/index.js';
import type { Store } from '../store/index.js';
import { yieldToLoop } from '../dataplane/common/yield-to-loop.js';

/**
 * What a pass keeps of a floating IP whose status it reports: its id, the association it applied (see
 * applyStatusPatch) and the status it read. A full pass holds 100,000 of these for seconds (the kernel read and
 * apply); whole documents (names, tags, project, network and port ids) were 58.7 MiB of them, these 15.3 MiB.
 */
export type ReportedFloatingIp = Pick<
  FloatingIp,
  'id' | 'routerId' | 'fixedIpAddress' | 'status' | 'statusReason'
>;

/**
 * The fields of a floating IP that a status report needs, without the rest of its document. `routerId`: one string
 * for the router's id, kept instead of each document's own copy when they are equal.
 */
export function reportedFloatingIp(f: ReportedFloatingIp, routerId?: string): ReportedFloatingIp {
  return {
    id: f.id,
    routerId: f.routerId === routerId ? routerId : f.routerId,
    fixedIpAddress: f.fixedIpAddress,
    status: f.status,
    statusReason: f.statusReason,
  };
}

/** One floating IP's status as a pass decided it, with the association it applied (see applyStatusPatch). */
export interface StatusEntry {
  readonly fip: ReportedFloatingIp;
  readonly status: FloatingIpStatus;
  readonly reason: string;
}

/** How long entries are gathered before they are written: deltas of many routers land within a few ms. */
const DEFAULT_WINDOW_MS = 2;

/** Floating IP statuses written per transaction: one of 100,000 would hold the event loop for seconds. */
export const STATUS_CHUNK = 2_000;

interface Waiting {
  readonly entries: readonly StatusEntry[];
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Writes floating IP statuses for every router of the agent, gathered over a short window into one store
 * transaction (issue 15 item 3). With 100 routers churning, each router's delta used to end in its own
 * transaction: a commit, a change on the feed and a wake-up of every feed reader per delta. Gathered, a burst
 * of deltas across routers costs one of each.
 *
 * Each caller's promise settles when the transaction holding its entries has committed (or failed), so a pass
 * still ends only once its statuses are written. Entries stand alone (applyStatusPatch skips a floating IP
 * that moved on since its pass): nothing needs one caller's entries in the same transaction as another's, so a
 * large write is split into chunks. They go through the store's status-only path (Store.updateStatuses), which
 * the agent's own feed reader skips unread.
 */
export class StatusWriter {
  private waiting: Waiting[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: Store,
    private readonly ctx: Context,
    private readonly windowMs: number = DEFAULT_WINDOW_MS,
  ) {}

  /** Queues the entries for the next transaction; resolves once they are committed. */
  write(entries: readonly StatusEntry[]): Promise<void> {
    if (entries.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ entries, resolve, reject });
      this.timer ??= setTimeout(() => void this.flush(), this.windowMs);
    });
  }

  /** Writes whatever is queued now (the agent's stop, tests). */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.waiting;
    this.waiting = [];
    if (batch.length === 0) return;
    // In the store's key order (by id), so that each chunk rewrites documents that share pages: in the order of
    // the passes (floating addresses), every chunk of 2,000 touched about as many pages, all written to the WAL
    // at its commit, and 100,000 statuses took 3.8 s of CPU, 1.5 s in id order (on a copy of a 100,000 store).
    // The sort is stable: a floating IP reported twice in a window ends as if its reports were written one by one.
    const all = byId(batch.flatMap((w) => w.entries));
    try {
      for (let start = 0; start < all.length; start += STATUS_CHUNK) {
        // A turn of the event loop between chunks: SQLite's write is synchronous, so awaiting it alone lets no
        // I/O in, and 100,000 statuses held the loop for seconds as if written in one transaction.
        if (start > 0) await yieldToLoop();
        const chunk = all.slice(start, start + STATUS_CHUNK);
        await writeStatuses(this.store, this.ctx, chunk);
      }
    } catch (error) {
      for (const w of batch) w.reject(error);
      return;
    }
    for (const w of batch) w.resolve();
  }
}

/**
 * The entries that change a floating IP's status, sorted as the writer writes them: the writer's own sort of a
 * pass's 100,000 entries is then a single walk, and a full pass prepares them while its backend's batch goes in.
 */
export function statusChanges(
  fips: readonly ReportedFloatingIp[],
  status: FloatingIpStatus,
  reason: string,
): StatusEntry[] {
  const stale = fips.filter((f) => f.status !== status || f.statusReason !== reason);
  return byId(stale.map((fip) => ({ fip, status, reason })));
}

/**
 * Entries sorted by floating IP id, those of one floating IP in the order given. Positions are sorted on a flat
 * array of the ids: a comparison then loads two strings, not two entries and their floating IPs. A full pass's
 * 100,000 entries (in the order of their floating addresses) took 144-213 ms sorted whole, 70-103 ms this way
 * (random ids, load 3.8); once the route writer made the addresses quick, this sort was what a converge waited for
 * between its addresses and its status write.
 */
function byId(entries: readonly StatusEntry[]): StatusEntry[] {
  const ids = entries.map((e) => e.fip.id);
  const order = entries.map((_, i) => i);
  order.sort((a, b) => {
    const x = ids[a]!;
    const y = ids[b]!;
    return x < y ? -1 : x > y ? 1 : a - b;
  });
  return order.map((i) => entries[i]!);
}

/**
 * Writes status entries in one status-only transaction (see Store.updateStatuses), as patches the store applies by
 * the model's rule (applyStatusPatch). Every document it changes gets the same `updatedAt`: one clock read and one
 * string per transaction instead of per floating IP (about 60 ms of CPU in a converge's 100,000).
 */
export function writeStatuses(store: Store, ctx: Context, entries: readonly StatusEntry[]): Promise<number> {
  return store.updateStatuses(
    'floatingip',
    entries.map(({ fip, status, reason }) => floatingIpStatusPatch(fip, status, reason)),
    ctx.now(),
  );
}
