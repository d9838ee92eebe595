import type { BenchResults } from '../results.js';
import { forwardingCells } from './forwarding-table.js';

export interface GoalRow {
  readonly goal: string;
  readonly measured: string;
  /** null when this run did not measure it. */
  readonly met: boolean | null;
  readonly miss: string;
}

const STATELESS = new Set(['nftables', 'tc', 'ebpf']);
const pct = (x: number) => `${(x * 100).toFixed(0)}%`;

/** The goals, checked against one run's results. Missed goals say by how much. */
export function evaluateGoals(r: BenchResults): GoalRow[] {
  const rows: GoalRow[] = [];
  const cells = r.forwarding ? forwardingCells(r.forwarding) : [];
  const minFips = Math.min(...cells.map((c) => c.fips));
  const maxFips = Math.max(...cells.map((c) => c.fips));
  for (const config of [...new Set(cells.map((c) => c.config))].filter((c) => STATELESS.has(c))) {
    const mine = cells.filter((c) => c.config === config && c.fips === minFips);
    const worst = mine.reduce((a, c) => (c.ratioToPlain < a.ratioToPlain ? c : a), mine[0]!);
    rows.push({
      goal: `${config}: forwarding ≥ 90% of plain routing`,
      measured: mine.map((c) => `${c.pattern} ${pct(c.ratioToPlain)}`).join(', '),
      met: worst.ratioToPlain >= 0.9,
      miss: worst.ratioToPlain >= 0.9 ? '' : `${pct(0.9 - worst.ratioToPlain)} short (${worst.pattern})`,
    });
    const stateful = cells.find(
      (c) => c.config === 'iptables' && c.fips === minFips && c.pattern === 'new-flows',
    );
    const own = cells.find((c) => c.config === config && c.fips === minFips && c.pattern === 'new-flows');
    if (stateful && own) {
      const speedup = stateful.nsPerPacket.median / own.nsPerPacket.median;
      rows.push({
        goal: `${config}: ≥ 1.5× the stateful baseline, every packet a new flow (${minFips} FIP)`,
        measured: `${speedup.toFixed(2)}×`,
        met: speedup >= 1.5,
        miss: speedup >= 1.5 ? '' : `${(1.5 - speedup).toFixed(2)}× short`,
      });
    }
    for (const pattern of ['one-flow', 'new-flows']) {
      const lo = cells.find((c) => c.config === config && c.fips === minFips && c.pattern === pattern);
      const hi = cells.find((c) => c.config === config && c.fips === maxFips && c.pattern === pattern);
      if (!lo || !hi || minFips === maxFips) continue;
      const loss = hi.nsPerPacket.median / lo.nsPerPacket.median - 1;
      rows.push({
        goal: `${config}: flat cost from ${minFips} to ${maxFips} FIPs (≤ 10% loss), ${pattern}`,
        measured: `${loss >= 0 ? '+' : ''}${pct(loss)} ns/packet`,
        met: loss <= 0.1,
        miss: loss <= 0.1 ? '' : `${pct(loss - 0.1)} over`,
      });
    }
  }
  const top = r.control?.points.reduce((a, p) => (p.fips > a.fips ? p : a), r.control.points[0]!);
  if (top) {
    const at = `at ${top.fips.toLocaleString('en')} FIPs`;
    rows.push({
      goal: `converge 100,000 FIPs in ≤ 5 s (${at})`,
      measured: `${(top.convergeMs / 1000).toFixed(2)} s`,
      met: top.fips >= 100_000 ? top.convergeMs <= 5000 : null,
      miss: top.convergeMs <= 5000 ? '' : `${((top.convergeMs - 5000) / 1000).toFixed(2)} s over`,
    });
    rows.push({
      goal: `p99 associate-to-traffic ≤ 50 ms (${at})`,
      measured: `${top.latencyP99Ms.toFixed(1)} ms (p50 ${top.latencyP50Ms.toFixed(1)} ms)`,
      met: top.fips >= 100_000 ? top.latencyP99Ms <= 50 : null,
      miss: top.latencyP99Ms <= 50 ? '' : `${(top.latencyP99Ms - 50).toFixed(1)} ms over`,
    });
    const lost = r.control!.points.reduce((a, p) => a + p.restartLost, 0);
    rows.push({
      goal: 'zero packets lost on agent restart (every count)',
      measured: r.control!.points.map((p) => `${p.fips}: ${p.restartLost}/${p.restartSent}`).join(', '),
      met: lost === 0,
      miss: lost === 0 ? '' : `${lost} packets lost`,
    });
    rows.push({
      goal: `RSS ≤ 200 MB (${at})`,
      measured: `${top.rssMiB.toFixed(0)} MiB (peak ${top.peakRssMiB.toFixed(0)} MiB)`,
      met: top.fips >= 100_000 ? top.peakRssMiB * 1.048576 <= 200 : null,
      miss: top.peakRssMiB * 1.048576 <= 200 ? '' : `${(top.peakRssMiB * 1.048576 - 200).toFixed(0)} MB over`,
    });
  }
  return rows;
}
