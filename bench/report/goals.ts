import type { BenchResults } from '../results.js';
import { forwardingCells } from './forwarding-table.js';

export interface GoalRow {
  readonly goal: string;
  readonly measured: string;
  /** null when this run did not measure it. */
  readonly met: boolean | null;
  readonly miss: string;
  /** Why such a goal is missed, when it is (what the measurements point at). */
  readonly why: string;
}

const WHY = {
  plain:
    "Plain routing runs no netfilter chain at all; the eBPF tc path and nftables still pass the router's " +
    'netfilter hooks, which shared SNAT keeps registered, and nftables runs its raw-priority chain with a map lookup, ' +
    'NOTRACK and an address rewrite at prerouting, and another lookup and rewrite at postrouting, on every packet. ' +
    'That fixed cost is a large share of a ~800 ns veth forward; on a real NIC with a heavier base cost the ratio ' +
    'improves. Whole runs on this machine move by up to 20% between one another (compare the spread columns).',
  fast:
    'On veth a tc fast path cannot go much below plain routing: a tc program that does nothing but hand every ' +
    'packet to the sink with bpf_redirect_peer measured 0.71-0.96x plain in two runs, and one that also does bpf_fib_lookup and ' +
    'the TTL and MAC rewrite 0.71-1.07x (bench/fast-path-floor.ts, docs/benchmarks.md issue-17 section). The receive ' +
    'softirq, RPS and the skb, which every configuration pays, are most of a ~800 ns forward; the fast path adds ' +
    'the translation, anti-spoofing, QoS and counters (gw_ingress about 190 ns with bpf_stats) to what it skips.',
  stateful: 'Measured against iptables with one floating IP, the best case for the rule list.',
  flat:
    'The maps are hashes (O(1)); growth at 100,000 entries comes from cache and TLB misses in a larger table, and from ' +
    'noise on the shared machine (compare the spread columns).',
  converge:
    'A converge is one full pass: the daemon starts, reads every floating IP and its port from the store and checks ' +
    "them, applies the backend's batch (for nftables one transaction with every element of its sets and maps; for " +
    'eBPF map batches), adds one local route per floating IP and writes every status (SQLite rewrites each ' +
    'document). The scale section below says where the time goes at 100,000.',
  latency:
    'An association is one delta: a store read of the changed floating IP, one transaction through the ' +
    "namespace's long-lived channel (or one map write), one route and one status write; none of it reads the " +
    "router's other floating IPs. A miss means the machine was loaded (compare the spread and the scale section) " +
    'or the delta waited behind a full pass of the same router.',
  restart:
    'A restarted agent reads the kernel and changes nothing when it is right; loss would mean it rewrote state.',
  rss: 'Node and Fastify alone take about 80 MiB; the rest is the store cache and the desired state of every FIP.',
};

const STATELESS = new Set(['nftables', 'tc', 'ebpf', 'ebpf-tcpath']);
const pct = (x: number) => `${(x * 100).toFixed(0)}%`;

/**
 * Issue 17's goals: each configuration's cost per packet as a multiple of plain routing's (median over median,
 * same rounds). The fast path must beat not translating at all; the stack-path backends may cost a little more.
 */
const COST_GOAL: Readonly<Record<string, number>> = { ebpf: 0.8, 'ebpf-tcpath': 1.1, nftables: 1.3, tc: 1.3 };

/** The goals, checked against one run's results. Missed goals say by how much. */
export function evaluateGoals(r: BenchResults): GoalRow[] {
  const rows: GoalRow[] = [];
  // The goals are per-packet costs of small packets (64-byte frames), where the per-packet path dominates.
  const cells = r.forwarding ? forwardingCells(r.forwarding).filter((c) => c.ipBytes === 46) : [];
  const minFips = Math.min(...cells.map((c) => c.fips));
  const maxFips = Math.max(...cells.map((c) => c.fips));
  for (const config of [...new Set(cells.map((c) => c.config))].filter((c) => STATELESS.has(c))) {
    const mine = cells.filter((c) => c.config === config && c.fips === minFips);
    // ratioToPlain is plain's cost over this one's; its inverse is this cost as a multiple of plain's.
    const cost = (c: (typeof mine)[number]) => 1 / c.ratioToPlain;
    const worst = mine.reduce((a, c) => (cost(c) > cost(a) ? c : a), mine[0]!);
    const limit = COST_GOAL[config] ?? 1.1;
    rows.push({
      goal: `${config}: cost per packet ≤ ${limit.toFixed(1)}× plain routing (${minFips} FIP)`,
      measured: mine.map((c) => `${c.pattern} ${cost(c).toFixed(2)}×`).join(', '),
      met: cost(worst) <= limit,
      miss: cost(worst) <= limit ? '' : `${(cost(worst) - limit).toFixed(2)}× over (${worst.pattern})`,
      why: config === 'ebpf' ? WHY.fast : WHY.plain,
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
        why: WHY.stateful,
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
        why: WHY.flat,
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
      why: WHY.converge,
    });
    rows.push({
      goal: `p99 associate-to-traffic ≤ 50 ms (${at})`,
      measured: `${top.latencyP99Ms.toFixed(1)} ms (p50 ${top.latencyP50Ms.toFixed(1)} ms)`,
      met: top.fips >= 100_000 ? top.latencyP99Ms <= 50 : null,
      miss: top.latencyP99Ms <= 50 ? '' : `${(top.latencyP99Ms - 50).toFixed(1)} ms over`,
      why: WHY.latency,
    });
    const lost = r.control!.points.reduce((a, p) => a + p.restartLost, 0);
    rows.push({
      goal: 'zero packets lost on agent restart (every count)',
      measured: r.control!.points.map((p) => `${p.fips}: ${p.restartLost}/${p.restartSent}`).join(', '),
      met: lost === 0,
      miss: lost === 0 ? '' : `${lost} packets lost`,
      why: WHY.restart,
    });
    rows.push({
      goal: `RSS ≤ 200 MB (${at})`,
      measured: `${top.rssMiB.toFixed(0)} MiB (peak ${top.peakRssMiB.toFixed(0)} MiB)`,
      met: top.fips >= 100_000 ? top.peakRssMiB * 1.048576 <= 200 : null,
      miss: top.peakRssMiB * 1.048576 <= 200 ? '' : `${(top.peakRssMiB * 1.048576 - 200).toFixed(0)} MB over`,
      why: WHY.rss,
    });
  }
  return rows;
}
