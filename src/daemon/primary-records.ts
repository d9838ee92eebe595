import { writeBursts, type AuditLog } from '../api/audit-log.js';
import type { ForwardedRecord } from '../api/forwarded-records.js';
import type { RefusalRecord, RefusalTracker } from '../api/refusal-limit.js';

/**
 * The refusal limit and the audit log of every API worker, kept in the primary: one count per source address over
 * all workers, and one writer of the audit log (whole lines, rotation and SIGHUP as with a single process). A
 * source that goes over the limit is announced to every worker, which then refuses it without asking.
 */
export class PrimaryRecords {
  /** Sources announced as limited, and when their window ends (epoch ms). */
  private readonly announced = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly tracker: RefusalTracker,
    private readonly audit: AuditLog,
    private readonly onWriteError: (error: Error) => void,
    private readonly announce: (sources: readonly (readonly [string, number])[]) => void,
  ) {
    // One summary line per source and window, written when the window has closed (as registerRefusalLimit does).
    this.timer = setInterval(() => {
      this.writeBursts([...tracker.evicted.splice(0), ...tracker.sweep()]);
      const now = Date.now();
      for (const [address, until] of this.announced) if (until <= now) this.announced.delete(address);
    }, tracker.windowMs);
    this.timer.unref();
  }

  receive(record: ForwardedRecord): void {
    let line: RefusalRecord = 'line';
    if (record.refusal === 'limited') {
      this.tracker.limited(record.address, record.mutating);
      line = 'summary';
    } else if (record.refusal === 'refused') {
      line = this.tracker.refused(record.address, record.mutating);
    }
    if (this.tracker.evicted.length > 0) this.writeBursts(this.tracker.evicted.splice(0));
    if (record.entry && line === 'line') {
      try {
        this.audit.write(record.entry);
      } catch (error) {
        this.onWriteError(error as Error);
      }
    }
    if (record.refusal !== 'refused') return;
    const until = this.tracker.limitedUntilMs(record.address);
    if (until !== 0 && this.announced.get(record.address) !== until) {
      this.announced.set(record.address, until);
      this.announce([[record.address, until]]);
    }
  }

  /** The sources limited now, for a worker that starts while they are. */
  limitedSources(): [string, number][] {
    const now = Date.now();
    return [...this.announced].filter(([, until]) => until > now);
  }

  /** Writes the summaries of every open window (at shutdown). */
  close(): void {
    clearInterval(this.timer);
    this.writeBursts([...this.tracker.evicted.splice(0), ...this.tracker.sweep(true)]);
  }

  private writeBursts(bursts: Parameters<typeof writeBursts>[1]): void {
    if (bursts.length > 0) writeBursts(this.audit, bursts, this.onWriteError);
  }
}
