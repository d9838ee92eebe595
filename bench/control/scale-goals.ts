import type { BackendName } from '../../src/model/index.js';
import type { ControlPoint } from './run-control.js';
import type { FillResult } from './api-measures.js';

/**
 * Issue 15's goals table: per measure, the goal and each measured (topology, backend) cell with its verdict,
 * "met" or "missed by" how much. Goals are set at 100,000 installed; a cell shows what its point measured.
 */
export interface GoalCell {
  readonly backend: BackendName;
  readonly point: ControlPoint;
}

interface Measure {
  readonly name: string;
  readonly goal: (backend: BackendName) => string;
  /** The measured value and, where the measure has a goal for this backend, the verdict. */
  readonly cell: (c: GoalCell) => string;
}

const n = (v: number, digits = 0) =>
  Number.isFinite(v)
    ? v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : '—';
const MIB_TO_MB = 2 ** 20 / 1e6;
/** A ratio with two significant digits, so 0.03 does not read as 0.0. */
const ratio = (v: number) => (Number.isFinite(v) ? Number(v.toPrecision(2)).toString() : '—');

/** "met" or "missed by" the excess and the ratio, for a goal that is an upper bound. */
export function upTo(value: number, goal: number, unit: string, digits = 0): string {
  if (!Number.isFinite(value)) return 'not measured';
  if (value <= goal) return `${n(value, digits)} ${unit}: met`;
  return `${n(value, digits)} ${unit}: missed by ${n(value - goal, digits)} ${unit} (×${(value / goal).toFixed(1)})`;
}

/** The same for a goal that is a lower bound (a rate). */
export function atLeast(value: number, goal: number, unit: string): string {
  if (!Number.isFinite(value)) return 'not measured';
  if (value >= goal) return `${n(value)} ${unit}: met`;
  return `${n(value)} ${unit}: missed by ${n(goal - value)} ${unit} (×${(goal / value).toFixed(1)} short)`;
}

const ASSOCIATE_GOAL: Partial<Record<BackendName, number>> = { nftables: 50, ebpf: 20 };

/** Samples taken of those planned, when a budget cut them short. */
function sampleNote(p: ControlPoint): string {
  const taken = p.latenciesMs.length + p.latencyFailures;
  const planned = p.latencySamplesPlanned;
  const budget = p.sampleBudgetMs !== undefined ? ` (${n(p.sampleBudgetMs / 1000)} s budget)` : '';
  const apiErrors = p.latencyApiErrors ? ` (${p.latencyApiErrors} API calls failed)` : '';
  const failed = p.latencyFailures > 0 ? `, ${p.latencyFailures} without reply${apiErrors}` : '';
  return planned !== undefined
    ? ` over ${taken} of ${planned} samples${budget}${failed}`
    : ` over ${taken} samples${failed}`;
}

/** A left-out measure: its reason is noted once under the table. */
const skippedText = (why: string | undefined) =>
  why ? 'not measured (see below)' : 'not measured in this run';

const MEASURES: readonly Measure[] = [
  {
    name: 'associate → traffic p99',
    goal: (b) => (ASSOCIATE_GOAL[b] !== undefined ? `≤ ${ASSOCIATE_GOAL[b]} ms` : 'none (baseline)'),
    cell: ({ backend, point: p }) => {
      const goal = ASSOCIATE_GOAL[backend];
      const value = p.latencyP99Ms;
      const head = goal === undefined ? `${n(value)} ms` : upTo(value, goal, 'ms');
      return `${head}${sampleNote(p)}`;
    },
  },
  {
    name: 'disassociate → traffic stops p99',
    goal: () => 'none',
    cell: ({ point: p }) => {
      if (p.stopP99Ms === undefined) return skippedText(p.skipped?.disassociate);
      const skipped = p.stopSkipped ? `, ${p.stopSkipped} not taken (budget)` : '';
      const failed = (p.stopFailures ?? 0) + (p.stopNeverAnswered ?? 0);
      return `${n(p.stopP99Ms)} ms over ${p.stopSamples ?? 0} samples${skipped}${failed ? `, ${failed} failed` : ''}`;
    },
  },
  {
    name: 'converge from empty',
    goal: () => '≤ 5 s',
    cell: ({ point: p }) => upTo(p.convergeMs / 1000, 5, 's', 1),
  },
  {
    name: 'restart: ready, packets lost',
    goal: () => '≤ 5 s, 0 lost',
    cell: ({ point: p }) => {
      const lost = p.restartLost === 0 ? '0 lost: met' : `${p.restartLost} of ${p.restartSent} lost: missed`;
      // Points from before the stream was sized to the restart ran a 6 s stream.
      const streamMs = p.restartStreamMs ?? 6000;
      const covered =
        streamMs < p.restartResyncMs
          ? ` (the stream ended ${n((p.restartResyncMs - streamMs) / 1000, 1)} s before ready: losses after it are not counted)`
          : '';
      return `${upTo(p.restartResyncMs / 1000, 5, 's', 1)}; ${lost}${covered}`;
    },
  },
  {
    name: 'churn (issue: 1,000 changes/s for 60 s): change → ACTIVE p99, backlog',
    goal: () => '≤ 200 ms, no growing backlog',
    cell: ({ point: p }) => {
      const c = p.churn;
      if (!c) return skippedText(p.skipped?.churn);
      const rate =
        c.achievedPerSecond < c.targetPerSecond * 0.95
          ? `; ${n(c.achievedPerSecond)}/s of ${n(c.targetPerSecond)}/s achieved: missed`
          : '';
      const observed = c.observed < c.changes ? ` (${n(c.observed)} of ${n(c.changes)} observed)` : '';
      const p99 = c.p99Beyond
        ? `> ${n(c.p99Ms)} ms (past the histogram's last bound): missed by more than ${n(c.p99Ms - 200)} ms`
        : `≤ ${upTo(c.p99Ms, 200, 'ms')}`;
      return `${p99} at ${n(c.targetPerSecond)}/s for ${c.seconds} s${observed}; drained ${n(c.drainMs)} ms after the last change${rate}; ${c.cpuCores.toFixed(2)} cores`;
    },
  },
  {
    name: '/metrics scrape; API show p99 during / alone',
    goal: () => '≤ 1,000 ms, show p99 unaffected',
    cell: ({ point: p }) => {
      const s = p.scrape;
      if (!s) return skippedText(p.skipped?.scrape);
      return `${upTo(s.scrapeP50Ms, 1000, 'ms')} (first ${n(s.firstScrapeMs)} ms); show p99 ${n(s.showP99DuringMs)} / ${n(s.showP99AloneMs)} ms (×${ratio(s.showP99DuringMs / s.showP99AloneMs)})${s.showErrors ? `; ${s.showErrors} of ${s.shows} shows failed` : ''}`;
    },
  },
  {
    name: 'RSS',
    goal: () => '≤ 200 MB',
    // The footprint once idle after converging is what the goal bounds; the RSS at ready and the peak go beside it.
    cell: ({ point: p }) =>
      p.settledRssMiB === undefined
        ? upTo(p.rssMiB * MIB_TO_MB, 200, 'MB')
        : `${upTo(p.settledRssMiB * MIB_TO_MB, 200, 'MB')} settled; ${n(p.rssMiB * MIB_TO_MB)} MB at ready, peak ${n(p.peakRssMiB * MIB_TO_MB)} MB`,
  },
  {
    name: 'fill through the API, agent running: a floating IP a request, for ports that exist (VMs running)',
    goal: () => '≥ 1,000 floating IPs/s',
    // Floating IPs are what the goal counts: the ports are the VMs' (Nova makes them at boot), made before the timer.
    // The default configuration (API workers) is what the goal is read against; the 0-worker fill stays beside it.
    cell: ({ point: p }) =>
      !p.ontoPortsFill
        ? p.fill
          ? 'not measured (run before this fill)'
          : skippedText(p.skipped?.fill)
        : p.workersOntoPortsFill
          ? `${fillGoalCell(p.workersOntoPortsFill)} with ${p.workersOntoPortsFill.apiWorkers ?? '?'} API workers (the default), warm; 0 workers: ${fillGoalCell(p.ontoPortsFill)}`
          : `${fillGoalCell(p.ontoPortsFill)} with 0 API workers (run without the workers' fills)`,
  },
  {
    name: 'fill through the API, agent running: one port, then one floating IP, a request (2 requests a floating IP)',
    goal: () => '≥ 1,000 floating IPs/s',
    cell: ({ point: p }) =>
      !p.fill
        ? skippedText(p.skipped?.fill)
        : p.workersFill
          ? `${fillGoalCell(p.workersFill)} with ${p.workersFill.apiWorkers ?? '?'} API workers (the default)${p.workersFillFresh ? `, warm (fresh workers: ${fillGoalCell(p.workersFillFresh)})` : ''}; 0 workers: ${fillGoalCell(p.fill)}`
          : `${fillGoalCell(p.fill)} with 0 API workers (run before the workers' fill was measured)`,
  },
  {
    name: 'fill through the API, agent running: bulk requests (ports, then floating IPs)',
    goal: () => '≥ 1,000 floating IPs/s',
    cell: ({ point: p }) =>
      p.bulkFill
        ? fillGoalCell(p.bulkFill)
        : p.fill
          ? 'not measured (run before the bulk fill)'
          : skippedText(p.skipped?.fill),
  },
];

/** A fill's rate against the goal: the floating IPs ACTIVE per second, first request to the last one ACTIVE. */
function fillGoalCell(f: FillResult): string {
  const active = f.active ?? f.count;
  const cut =
    f.budgetMs !== undefined
      ? `, ${n(active)} ACTIVE of them within the ${n(f.budgetMs / 1000)} s budget`
      : '';
  const bulk = f.bulkSize !== undefined ? ` in requests of ${n(f.bulkSize)}` : '';
  return `${atLeast(active / (f.ms / 1000), 1000, 'per s')} (${n(f.count)} created by ${f.clients} clients${bulk}${cut})`;
}

export const topologyLabel = (p: ControlPoint) => {
  const routers = p.routers ?? 1;
  return `${routers} × ${n(p.fips / routers)}`;
};

const BACKEND_LABEL: Partial<Record<BackendName, string>> = {
  nftables: 'nftables',
  ebpf: 'eBPF',
  iptables: 'iptables',
};

/** The goals table over the given cells, one column each, in the order given. */
export function renderGoalsTable(cells: readonly GoalCell[]): string[] {
  const label = (b: BackendName) => BACKEND_LABEL[b] ?? b;
  const header = cells.map((c) => `${topologyLabel(c.point)}, ${label(c.backend)}`);
  /** One goal when every backend shares it, else each backend's. */
  const goalOf = (m: Measure) => {
    const byBackend = new Map(cells.map((c) => [c.backend, m.goal(c.backend)]));
    const goals = new Set(byBackend.values());
    return goals.size === 1
      ? [...goals][0]!
      : [...byBackend].map(([b, goal]) => `${label(b)} ${goal}`).join(', ');
  };
  return [
    `| measure | goal (issue 15) | ${header.join(' | ')} |`,
    `| --- | --- | ${header.map(() => '---').join(' | ')} |`,
    ...MEASURES.map((m) => `| ${m.name} | ${goalOf(m)} | ${cells.map((c) => m.cell(c)).join(' | ')} |`),
  ];
}
