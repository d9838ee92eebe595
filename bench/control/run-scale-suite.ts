import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type { BackendName } from '../../src/model/index.js';
import { writeMarkedSection } from '../report/write-section.js';
import type { ChurnResult } from './churn-load.js';
import { runControl, type ControlPoint } from './run-control.js';

/** The sizes of a control-plane scale run in one benchmark profile. */
export interface ScaleProfile {
  readonly fipCounts: number[];
  readonly latencySamples: number;
  readonly restartStreamMs: number;
  /** Floating IPs created through the API with the agent running, after the latency samples (0: none). */
  readonly fillCount: number;
  /** Sustained association churn through the API; absent: none. */
  readonly churn?: { readonly perSecond: number; readonly seconds: number };
}

export interface ScaleSuiteOptions {
  /** The command line that ran the suite, quoted in the document. */
  readonly command: string;
  readonly profileName: string;
  readonly profile: ScaleProfile;
  readonly backends: readonly BackendName[];
  readonly prefix: string;
  readonly port: number;
  readonly out: string;
  readonly log: (line: string) => void;
}

export interface ScaleRun {
  readonly backend: BackendName;
  readonly points: ControlPoint[];
  /** How it was run: the document names, per row, the run that measured it. */
  readonly command: string;
  readonly startedAt: string;
  readonly load: string;
}

/**
 * Issue 15's control-plane measures through the real daemon, per backend and size: associate (or create
 * associated) → first reply through the new floating IP, converge from an empty kernel, restart with traffic
 * flowing, RSS. Written to OUT/benchmarks/control-scale.json and the `control-scale` section, merged with earlier
 * runs: a run replaces only the backend and size rows it measured (100,000 takes long; it can run on its own).
 */
export async function runScaleSuite(o: ScaleSuiteOptions): Promise<ScaleRun[]> {
  const dir = join(o.out, 'benchmarks');
  const path = join(dir, 'control-scale.json');
  const earlier: ScaleRun[] = existsSync(path)
    ? ((JSON.parse(readFileSync(path, 'utf8')) as { runs?: ScaleRun[] }).runs ?? [])
    : [];
  const runs: ScaleRun[] = [];
  const startedAt = new Date().toISOString();
  const loadAtStart = loadAverage();
  for (const [k, backend] of o.backends.entries()) {
    const result = await runControl({
      prefix: `${o.prefix}${k}`,
      backend,
      ...o.profile,
      port: o.port + k,
      log: o.log,
    });
    const load = `${loadAtStart} at the start, ${loadAverage()} at the end`;
    runs.push({ backend, points: result.points, command: o.command, startedAt, load });
    // Written after every backend, so an interrupted run keeps what it measured.
    const measured = new Set(runs.flatMap((r) => r.points.map((p) => `${r.backend} ${p.fips}`)));
    const kept = earlier
      .map((r) => ({ ...r, points: r.points.filter((p) => !measured.has(`${r.backend} ${p.fips}`)) }))
      .filter((r) => r.points.length > 0);
    const all = [...kept, ...runs];
    mkdirSync(dir, { recursive: true });
    writeFileSync(path, JSON.stringify({ runs: all }, null, 1));
    writeMarkedSection(join(o.out, 'benchmarks.md'), 'control-scale', renderScaleSection(all));
  }
  return runs;
}

const ms = (v: number) => (Number.isFinite(v) ? `${Math.round(v).toLocaleString('en-US')}` : '—');
const GOALS: Partial<Record<BackendName, number>> = { nftables: 50, ebpf: 20 };

/** Before: the issue's table and the lost previous attempt, as the brief gives them (not re-measured here). */
const BEFORE: Record<string, string> = {
  'nftables 1000': '94 / 108 (issue); 105 / 196 (previous attempt)',
  'nftables 10000': '627 / 668 (issue); 334 / 733 (previous attempt)',
  'nftables 100000': 'not measured (issue); timeouts (previous attempt)',
  'ebpf 1000': '47 / 158 (previous attempt)',
  'ebpf 10000': '343 / 1,000 (previous attempt)',
  'ebpf 100000': 'not measured',
};

function churnCell(c: ChurnResult): string {
  const goal = c.p99Ms <= 200 ? 'met' : `missed ×${(c.p99Ms / 200).toFixed(1)}`;
  return (
    `${Math.round(c.achievedPerSecond).toLocaleString('en-US')}/s of ${c.targetPerSecond.toLocaleString('en-US')}/s for ${c.seconds} s; ` +
    `≤ ${ms(c.p50Ms)} / ≤ ${ms(c.p99Ms)} ms (goal p99 ≤ 200: ${goal}); drained in ${ms(c.drainMs)} ms (${c.observed.toLocaleString('en-US')} of ${c.changes.toLocaleString('en-US')} changes observed incrementally); ${c.cpuCores.toFixed(2)} cores`
  );
}

/** The 1-minute load average: these machines have 2 cores, shared with other work. */
function loadAverage(): string {
  return loadavg()[0]!.toFixed(1);
}

export function renderScaleSection(runs: readonly ScaleRun[]): string {
  const sources = [...new Set(runs.map((r) => `${r.startedAt} \`${r.command}\` (load average ${r.load})`))];
  const sourceOf = (r: ScaleRun) =>
    sources.indexOf(`${r.startedAt} \`${r.command}\` (load average ${r.load})`) + 1;
  const order = (r: ScaleRun) => (r.backend === 'nftables' ? 0 : 1);
  const rows = runs
    .flatMap((r) => r.points.map((p) => ({ r, p })))
    .sort((a, b) => order(a.r) - order(b.r) || a.p.fips - b.p.fips)
    .map(({ r, p }) => {
      const sorted = [...p.latenciesMs].sort((a, b) => a - b);
      const max = sorted.at(-1) ?? Number.NaN;
      const goal = GOALS[r.backend];
      const verdict =
        goal === undefined || p.fips < 100_000
          ? ''
          : p.latencyP99Ms <= goal
            ? ` (goal ≤ ${goal}: met)`
            : ` (goal ≤ ${goal}: missed ×${(p.latencyP99Ms / goal).toFixed(1)})`;
      return (
        `| ${r.backend} | ${p.fips.toLocaleString('en-US')} | ${ms(p.latencyP50Ms)} / ${ms(p.latencyP99Ms)}${verdict} / ${ms(max)} | ` +
        `${p.latenciesMs.length} (${p.latencyFailures} without reply) | ${ms(p.apiP50Ms ?? Number.NaN)} | ${BEFORE[`${r.backend} ${p.fips}`] ?? '—'} | ` +
        `${p.stopP50Ms === undefined ? '—' : `${ms(p.stopP50Ms)} / ${ms(p.stopP99Ms ?? Number.NaN)} (${p.stopFailures ?? 0} not stopped, ${p.stopNeverAnswered ?? 0} never answered)`} | ` +
        `${p.fill ? `${Math.round(p.fill.count / (p.fill.ms / 1000)).toLocaleString('en-US')}/s (${p.fill.count.toLocaleString('en-US')})` : '—'} | ` +
        `${p.churn ? churnCell(p.churn) : '—'} | ` +
        `${(p.convergeMs / 1000).toFixed(1)} s | ${(p.restartResyncMs / 1000).toFixed(1)} s, ${p.restartLost}/${p.restartSent} lost | ` +
        `${p.rssMiB.toFixed(0)} MiB (peak ${p.peakRssMiB.toFixed(0)}) | ${sourceOf(r)} |`
      );
    });
  return [
    '## Control plane at scale (issue 15)',
    '',
    'Through the real daemon (`sfip serve`, its own process) on one lab router: the store is filled directly, then',
    'the daemon starts on an empty kernel. Associate → traffic: the API call is sent, then a UDP probe from the',
    'external host retries every millisecond until the first reply through the new floating IP (half the samples',
    'create an associated floating IP, half associate an existing one). Restart: the daemon is stopped and started',
    'while a UDP stream (one packet every 2 ms) runs through a floating IP; time to ready is process start to every',
    'router reconciled. Disassociate → traffic stops: a probe sends every millisecond through an answering floating',
    'IP, the API call goes out, and the latency runs to the send time of the last probe still answered. Fill: 16',
    'clients create a port and an associated floating IP each through the API, with the agent running; the rate',
    'counts from the first request to every one of them ACTIVE. Churn: association changes through the API at a',
    'fixed rate (up to 64 in flight) over up to 2,000 floating IPs, each disassociated or associated back in turn;',
    "change → applied is the daemon's own sfip_floating_ip_change_seconds histogram over the run (bucket bounds,",
    'so ≤); drain runs from the last answer to every change observed applied. These machines have 2 cores, shared with other',
    "work: see each run's load average.",
    '',
    '| backend | installed | associate → traffic p50 / p99 / max (ms) | samples | API call p50 (ms) | before p50 / p99 (ms) | disassociate → traffic stops p50 / p99 (ms) | fill through the API, agent running | churn: achieved rate, change → applied p50 / p99, drain, daemon CPU | converge from empty | restart: ready, lost | RSS | run |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
    ...sources.map((source, i) => `Run ${i + 1}: ${source}.`),
    '',
    'Before: the numbers in issue 15 and those of a previous attempt at this work, as the brief reports them;',
    "they were not re-measured in this run (main's code was not benchmarked beside this branch). Goals (issue 15,",
    'at 100,000): associate → traffic p99 ≤ 50 ms (nftables), ≤ 20 ms (eBPF); converge ≤ 5 s; restart ≤ 5 s to',
    'ready with 0 packets lost; RSS ≤ 200 MB.',
    '',
    'At 100,000, on a quiet machine (the rows of 2026-12-03 11:33, load average 1.5-2.8), associate → traffic and the',
    'churn meet their goals on both backends; converge, restart, RSS and the fill do not. The same suite run at 10:10',
    "while three other sessions' tests and a qemu guest kept the load average at 7-13 read p99s of 227 and 361 ms,",
    'converge 38 and 60 s and fills of 117 and 92 per second: every figure here that is CPU moves with the load. The',
    "agent's part of an association is one delta (a store read of the changed floating IPs, one nft transaction",
    "through the namespace's long-lived nft process or one map write, one route, one status write), none of which",
    "reads the router's other floating IPs. Converge and restart are one full pass: the router read from the store",
    '(100,000 floating IPs and their ports: about 2 s of JSON parsing and trust checks), the kernel read back',
    '(restart: a terse ruleset listing and the set dumper, about 2.5 s), for nftables one transaction of 100,000',
    'elements in eight sets and maps (4.6 s inside nft alone, which parses text), 100,000 routes (1 s) and the status',
    'writes, 2,000 per transaction (an index-key rewrite made one status write of 100,000 take 8 s, 2 s now).',
    'Measured with `node --import tsx bench/control/converge-profile.ts --fips 100000` on 2026-12-03 (nftables, load',
    '3-6): converge 23.8 s → 12.7 s and restart 13.3 s → 8.4 s from the start of this work to its end. RSS: the peak',
    "comes from transient garbage of the full pass (the documents, the 22 MB nft batch, the dumper's 38 MB); 15 s",
    'after converging the heap holds 167 MB in use and RSS stays at 630 MB (V8 keeps what it grew to), against a',
    "daemon's 160 MB at 5,000. The fill is 16 clients creating a port and a floating IP each with the agent running",
    'on the same event loop (`--api-workers 0`, as every row here). Not done: the nft batch of a full pass',
    'through libnftnl instead of nft -f, a store read that streams in chunks, an agent-side cache of the documents',
    'across passes.',
  ].join('\n');
}
