import type { ForwardingResult } from '../forwarding/run-forwarding.js';
import { summarize, type Summary } from '../stats.js';

export interface ForwardingCell {
  readonly config: string;
  readonly fips: number;
  readonly pattern: string;
  readonly nsPerPacket: Summary;
  /** Packets per second one CPU could forward at this cost: 1e9 / median ns per packet. */
  readonly mppsPerCore: number;
  readonly deliveredPct: number;
  /** Median cost of plain routing / this configuration's, measured in the same rounds (1.0 = as fast as plain). */
  readonly ratioToPlain: number;
}

export function forwardingCells(f: ForwardingResult): ForwardingCell[] {
  const cells: ForwardingCell[] = [];
  const keys = new Set(f.samples.map((s) => `${s.config}|${s.fips}|${s.pattern}`));
  for (const key of keys) {
    const [config, fipsText, pattern] = key.split('|') as [string, string, string];
    const fips = Number(fipsText);
    const mine = f.samples.filter((s) => s.config === config && s.fips === fips && s.pattern === pattern);
    const plain = f.samples.filter((s) => s.config === 'plain' && s.fips === fips && s.pattern === pattern);
    const ns = summarize(mine.map((s) => s.nsPerPacket));
    const plainNs = summarize(plain.map((s) => s.nsPerPacket));
    const sent = mine.reduce((a, s) => a + s.sent, 0);
    const delivered = mine.reduce((a, s) => a + s.delivered, 0);
    cells.push({
      config,
      fips,
      pattern,
      nsPerPacket: ns,
      mppsPerCore: 1e3 / ns.median,
      deliveredPct: (100 * delivered) / sent,
      ratioToPlain: plainNs.median / ns.median,
    });
  }
  const order = (c: string) => (c === 'plain' ? '' : c);
  return cells.sort(
    (a, b) =>
      a.pattern.localeCompare(b.pattern) || a.fips - b.fips || order(a.config).localeCompare(order(b.config)),
  );
}
