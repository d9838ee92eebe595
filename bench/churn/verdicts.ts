import type { TaggedRecord, TaggedSendLog } from '../../src/lab/tagged-traffic.js';
import { Timeline } from './ownership.js';

/** Deliveries that should not have happened, grouped by key and what was observed. */
export interface WrongDeliveries {
  readonly key: string;
  /** Inbound: the fixed IP that received them. Outbound: the source address the external host saw. */
  readonly observed: string;
  readonly count: number;
  /** The first one: its generation tag, sequence number and why it is wrong. */
  readonly gen: number;
  readonly seq: number;
  readonly reason: string;
}

export interface DirectionVerdict {
  readonly sent: number;
  readonly received: number;
  readonly duplicates: number;
  readonly ok: number;
  /** Delivered to the previous owner (or with the previous source) after the change was acknowledged. */
  readonly late: number;
  readonly lateMaxMs: number;
  readonly lateP99Ms: number;
  readonly wrong: number;
  /** The longest a previous owner kept receiving (or a previous source kept being used) after the change. */
  readonly staleMaxMs: number;
  readonly wrongGroups: WrongDeliveries[];
  /** Packets sent while the mapping had been stable for the settle time: these must all arrive, and right. */
  readonly settledSent: number;
  readonly settledLost: number;
  /** Packets sent while the key forwarded nowhere (inbound only) that arrived nowhere, as they should. */
  readonly unownedDropped: number;
}

export interface VerdictOptions {
  /** The in-flight bound: a late delivery beyond it counts as wrong. */
  readonly boundUs: number;
  /** How long after an acknowledged change a mapping counts as settled for the loss count. */
  readonly settleUs: number;
}

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;

/**
 * Judges one direction. `observedOf` turns a record into what was observed about its key (inbound: the fixed IP
 * that received it; outbound: the source seen, with the router's shared-SNAT address mapped to null).
 */
export function judge(
  direction: 'inbound' | 'outbound',
  timelines: ReadonlyMap<string, Timeline>,
  logs: readonly TaggedSendLog[],
  records: readonly TaggedRecord[],
  observedOf: (r: TaggedRecord) => string | null,
  options: VerdictOptions,
): DirectionVerdict {
  const seen = new Map<string, TaggedRecord[]>();
  let duplicates = 0;
  let ok = 0;
  let wrong = 0;
  const late: number[] = [];
  const groups = new Map<string, WrongDeliveries>();
  let staleMaxUs = 0;
  for (const r of records) {
    const id = `${r[0]}|${r[2]}`;
    const previous = seen.get(id);
    if (previous) duplicates++;
    seen.set(id, [...(previous ?? []), r]);
    const timeline = timelines.get(r[0]) ?? new Timeline();
    const observed = observedOf(r);
    const verdict = timeline.classify(observed, r[3], options.boundUs);
    if (verdict.kind === 'ok') ok++;
    else if (verdict.kind === 'late') {
      late.push(verdict.lateUs / 1000);
      staleMaxUs = Math.max(staleMaxUs, verdict.lateUs);
    } else {
      wrong++;
      staleMaxUs = Math.max(staleMaxUs, verdict.lateUs ?? 0);
      const shown = observed ?? 'shared SNAT';
      const group = groups.get(`${r[0]}|${shown}`);
      if (group) groups.set(`${r[0]}|${shown}`, { ...group, count: group.count + 1 });
      else
        groups.set(`${r[0]}|${shown}`, {
          key: r[0],
          observed: shown,
          count: 1,
          gen: r[1],
          seq: r[2],
          reason: verdict.reason,
        });
    }
  }
  let sent = 0;
  let settledSent = 0;
  let settledLost = 0;
  let unownedDropped = 0;
  for (const log of logs) {
    sent += log.keys.length * log.roundUs.length;
    for (const key of log.keys) {
      const timeline = timelines.get(key) ?? new Timeline();
      log.roundUs.forEach((t, seq) => {
        const value = timeline.settledAt(t, options.settleUs);
        if (value === undefined) return;
        const got = seen.get(`${key}|${seq}`);
        if (direction === 'inbound' && value === null) {
          if (!got) unownedDropped++;
          return;
        }
        settledSent++;
        if (!got || !got.some((r) => observedOf(r) === value)) settledLost++;
      });
    }
  }
  late.sort((a, b) => a - b);
  return {
    sent,
    received: records.length,
    duplicates,
    ok,
    late: late.length,
    lateMaxMs: late.at(-1) ?? 0,
    lateP99Ms: percentile(late, 0.99),
    wrong,
    staleMaxMs: staleMaxUs / 1000,
    wrongGroups: [...groups.values()].sort((a, b) => b.count - a.count).slice(0, 12),
    settledSent,
    settledLost,
    unownedDropped,
  };
}
