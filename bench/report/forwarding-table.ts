import type { ForwardingResult } from '../forwarding/run-forwarding.js';
import { summarize, type Summary } from '../stats.js';

export interface ForwardingCell {
  readonly config: string;
  readonly fips: number;
  readonly pattern: string;
  /** IP packet length (46: 64-byte frames, all that results from before issue 17 hold). */
  readonly ipBytes: number;
  readonly nsPerPacket: Summary;
  /** Delivered packets per NET_RX softirq on the router CPU; null in results that did not record softirqs. */
  readonly packetsPerSoftirq: number | null;
  /**
   * eBPF configurations: median of gw_ingress's own run time per run (bpf_stats, from the samples taken with stats
   * on); null elsewhere.
   */
  readonly gwIngressNsPerRun: number | null;
  /** Packets per second one CPU could forward at this cost: 1e9 / median ns per packet. */
  readonly mppsPerCore: number;
  readonly deliveredPct: number;
  /** Median cost of plain routing / this configuration's, measured in the same rounds (1.0 = as fast as plain). */
  readonly ratioToPlain: number;
}

export function forwardingCells(f: ForwardingResult): ForwardingCell[] {
  const cells: ForwardingCell[] = [];
  const bytesOf = (s: { ipBytes?: number }) => s.ipBytes ?? 46;
  const keys = new Set(f.samples.map((s) => `${s.config}|${s.fips}|${s.pattern}|${bytesOf(s)}`));
  for (const key of keys) {
    const [config, fipsText, pattern, bytesText] = key.split('|') as [string, string, string, string];
    const fips = Number(fipsText);
    const ipBytes = Number(bytesText);
    const same = (s: ForwardingResult['samples'][number]) =>
      s.fips === fips && s.pattern === pattern && bytesOf(s) === ipBytes;
    // Samples taken with bpf_stats on carry the stats' own cost: they give program time only.
    const timed = f.samples.filter((s) => s.config === config && same(s));
    const mine = timed.filter((s) => !s.programTime);
    const plain = f.samples.filter((s) => s.config === 'plain' && same(s));
    const ns = summarize(mine.map((s) => s.nsPerPacket));
    const plainNs = summarize(plain.map((s) => s.nsPerPacket));
    const sent = mine.reduce((a, s) => a + s.sent, 0);
    const delivered = mine.reduce((a, s) => a + s.delivered, 0);
    const softirqs = mine.every((s) => s.netRxSoftirqs !== undefined)
      ? mine.reduce((a, s) => a + s.netRxSoftirqs!, 0)
      : 0;
    cells.push({
      config,
      fips,
      pattern,
      ipBytes,
      nsPerPacket: ns,
      packetsPerSoftirq: softirqs > 0 ? delivered / softirqs : null,
      gwIngressNsPerRun: medianOf(
        timed.flatMap((s) => (s.gwIngressNsPerRun === undefined ? [] : [s.gwIngressNsPerRun])),
      ),
      mppsPerCore: 1e3 / ns.median,
      deliveredPct: (100 * delivered) / sent,
      ratioToPlain: plainNs.median / ns.median,
    });
  }
  const order = (c: string) => (c === 'plain' ? '' : c);
  return cells.sort(
    (a, b) =>
      a.pattern.localeCompare(b.pattern) ||
      a.ipBytes - b.ipBytes ||
      a.fips - b.fips ||
      order(a.config).localeCompare(order(b.config)),
  );
}

function medianOf(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
