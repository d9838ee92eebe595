import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type { BackendName } from '../../src/model/index.js';
import { writeMarkedSection } from '../report/write-section.js';
import type { ApiWorkersSetting } from './processes.js';
import { measureShape, type ControlMeasures, type ControlPoint } from './run-control.js';
import { renderScaleSection } from './scale-report.js';
import type { ScaleShape } from './scale-topology.js';

/** The sizes of a control-plane scale run in one benchmark profile. */
export interface ScaleProfile {
  /** The topologies measured: routers × floating IPs each (issue 15: 1 × 100,000 and 100 × 1,000). */
  readonly topologies: readonly ScaleShape[];
  readonly latencySamples: number;
  readonly restartStreamMs: number;
  /** Floating IPs created through the API with the agent running, after the latency samples (0: none). */
  readonly fillCount: number;
  /**
   * The per-request fill again, last, with the daemon's API workers: 'default' (one per core, what `sfip serve`
   * runs) is the fill's headline; absent: only the 0-worker fills, as every measure before it.
   */
  readonly fillApiWorkers?: ApiWorkersSetting;
  /** Sustained association churn through the API; absent: none. */
  readonly churn?: { readonly perSecond: number; readonly seconds: number };
  /** /metrics scrape and API show p99 alone and during scrapes, each window this long; absent: not measured. */
  readonly scrapeWindowMs?: number;
  /** Wall time for the iptables baseline's associate samples, and again for its disassociate samples. */
  readonly iptablesSampleBudgetMs: number;
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
 * Why the iptables baseline leaves the churn out. The daemon's change histogram counts delta passes only, and the
 * baseline has no delta path: every change is a full pass of the router (iptables-save, plan, iptables-restore).
 */
export const IPTABLES_NO_CHURN =
  'iptables has no delta path: every change is a full pass of the router, which the change histogram does not count, so change → ACTIVE cannot be observed per change';

/** What each backend runs: the stateless backends everything, the iptables baseline within time budgets. */
export function measuresFor(profile: ScaleProfile, backend: BackendName): ControlMeasures {
  const all: ControlMeasures = {
    latencySamples: profile.latencySamples,
    restartStreamMs: profile.restartStreamMs,
    fillCount: profile.fillCount,
    ...(profile.fillApiWorkers !== undefined && { fillApiWorkers: profile.fillApiWorkers }),
    ...(profile.churn && { churn: profile.churn }),
    ...(profile.scrapeWindowMs !== undefined && { scrapeWindowMs: profile.scrapeWindowMs }),
  };
  if (backend !== 'iptables') return all;
  return {
    ...all,
    sampleBudgetMs: profile.iptablesSampleBudgetMs,
    // A full pass of 100,000 floating IPs takes seconds, tens of them on a loaded machine: wait for the first reply.
    replyTimeoutMs: 60_000,
    fillBudgetMs: profile.iptablesSampleBudgetMs,
    ...(profile.churn && { skip: { churn: IPTABLES_NO_CHURN } }),
  };
}

const pointKey = (backend: BackendName, p: ControlPoint) => `${backend} ${p.routers ?? 1}x${p.fips}`;

/**
 * Issue 15's control-plane measures through the real daemon, per topology and backend: associate (or create
 * associated) → first reply through the new floating IP, disassociate → traffic stops, /metrics scrape, fill,
 * churn, converge from an empty kernel, restart with traffic flowing, RSS. Written to
 * OUT/benchmarks/control-scale.json and the `control-scale` section after every backend, merged with earlier
 * runs: a run replaces only the (backend, topology) rows it measured.
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
  const save = () => {
    const measured = new Set(runs.flatMap((r) => r.points.map((p) => pointKey(r.backend, p))));
    const kept = earlier
      .map((r) => ({ ...r, points: r.points.filter((p) => !measured.has(pointKey(r.backend, p))) }))
      .filter((r) => r.points.length > 0);
    const all = [...kept, ...runs];
    mkdirSync(dir, { recursive: true });
    writeFileSync(path, JSON.stringify({ runs: all }, null, 1));
    writeMarkedSection(join(o.out, 'benchmarks.md'), 'control-scale', renderScaleSection(all));
  };
  for (const [k, shape] of o.profile.topologies.entries()) {
    await measureShape(
      {
        prefix: `${o.prefix}${k}`,
        shape,
        backends: o.backends,
        measuresOf: (backend) => measuresFor(o.profile, backend),
        port: o.port,
        log: o.log,
      },
      // Written after every backend, so an interrupted run keeps what it measured.
      (backend, point) => {
        const load = `${loadAtStart} at the start, ${loadAverage()} at the end`;
        runs.push({ backend, points: [point], command: o.command, startedAt, load });
        save();
      },
    );
  }
  return runs;
}

/** The 1-minute load average: these machines have 2 cores, shared with other work. */
function loadAverage(): string {
  return loadavg()[0]!.toFixed(1);
}

/** `--scale-topologies 1x100000,100x1000`: routers × floating IPs per router. */
export function parseTopologies(text: string): ScaleShape[] {
  return text.split(',').map((part) => {
    const m = /^(\d+)x(\d+)$/.exec(part.trim());
    if (!m) throw new Error(`--scale-topologies '${part}': expected ROUTERSxFIPS, e.g. 100x1000`);
    return { routers: Number(m[1]), perRouter: Number(m[2]) };
  });
}
