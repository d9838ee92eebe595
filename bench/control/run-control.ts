import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../../src/client/api-client.js';
import { createDataplane } from '../../src/dataplane/index.js';
import { PIN_ROOT } from '../../src/dataplane/ebpf/layout.js';
import type { BackendName } from '../../src/model/index.js';
import { quantile } from '../stats.js';
import {
  bulkFillThroughApi,
  churnAssociations,
  disassociateSamples,
  fillOntoPortsThroughApi,
  fillThroughApi,
  scrapeDuringShows,
  type FillResult,
  type ScrapeResult,
} from './api-measures.js';
import { associateSamples } from './associate-samples.js';
import { MAX_IN_FLIGHT, type ChurnResult } from './churn-load.js';
import { httpTransport } from './http-transport.js';
import { copyPopulated, populateScaleStore, type ScalePopulatedIds } from './populate-scale.js';
import { availableParallelism } from 'node:os';
import { NamespaceHelper, ServerProcess, type ApiWorkersSetting } from './processes.js';
import {
  buildScaleTopology,
  cleanupOnInterrupt,
  destroyScaleTopology,
  fixedIpOf,
  floatingIpOf,
  scaleTopology,
  type ScaleShape,
  type ScaleTopology,
} from './scale-topology.js';

/** What one backend runs, and what it leaves out and why (the document says so instead of a silent gap). */
export interface ControlMeasures {
  /** Create/associate-to-traffic samples per point; the same number of disassociate samples follows. */
  readonly latencySamples: number;
  /** Wall time for the associate samples, and again for the disassociate ones; past it the rest are not taken. */
  readonly sampleBudgetMs?: number;
  /** How long a probe waits for the first reply (or for traffic to stop). Default 10 s. */
  readonly replyTimeoutMs?: number;
  /** Shortest UDP stream kept running across an agent restart; it lasts 1.5 × converge + 1 s when that is more. */
  readonly restartStreamMs: number;
  /**
   * Floating IPs created through the API (a port and a floating IP each) by 16 clients, agent running: once one
   * item a request, then as many again in bulk requests.
   */
  readonly fillCount?: number;
  /** Wall time for the fill; past it, the floating IPs ACTIVE by then are counted. Default 10 minutes. */
  readonly fillBudgetMs?: number;
  /**
   * The per-request fill once more, last, through the daemon restarted with these API workers ('default': what
   * `sfip serve` runs, one per core), as an operator filling a cloud runs it. Absent: not measured. Every other
   * measure runs with 0 workers, so RSS, CPU and the churn's figures are one process's.
   */
  readonly fillApiWorkers?: ApiWorkersSetting;
  /** Sustained association churn through the API (issue 15: 1,000 changes/s for 60 s). */
  readonly churn?: { readonly perSecond: number; readonly seconds: number };
  /** /metrics scrape and API show p99 alone and during scrapes, each window this long (absent: not measured). */
  readonly scrapeWindowMs?: number;
  /** Measures left out for this backend: the reason goes into the document. */
  readonly skip?: { readonly fill?: string; readonly churn?: string; readonly scrape?: string };
}

export interface ControlOptions extends ControlMeasures {
  readonly prefix: string;
  readonly backend: BackendName;
  /** One router with each of these counts. */
  readonly fipCounts: readonly number[];
  readonly port: number;
  readonly log: (line: string) => void;
}

export interface ControlPoint {
  /** Floating IPs installed over the whole topology (routers × per router). */
  readonly fips: number;
  /** Routers in the topology; absent in results from before there were several (one). */
  readonly routers?: number;
  readonly populateMs: number;
  /** Process start to every router reconciled, from an empty kernel. */
  readonly convergeMs: number;
  readonly kernelMappings: number;
  readonly latenciesMs: number[];
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
  readonly latencyFailures: number;
  /** Associate samples planned; fewer were taken when the budget ran out (absent: all were). */
  readonly latencySamplesPlanned?: number;
  readonly sampleBudgetMs?: number;
  /** The API call's own p50 (request sent to response), included in the latencies. */
  readonly apiP50Ms?: number;
  /** Disassociate → traffic stops: API call sent to the send time of the last probe answered. */
  readonly stopP50Ms?: number;
  readonly stopP99Ms?: number;
  readonly stopSamples?: number;
  /** Samples whose traffic had not stopped within the probe's timeout. */
  readonly stopFailures?: number;
  /** Samples whose floating IP did not answer before the disassociation (nothing to see stop). */
  readonly stopNeverAnswered?: number;
  /** Disassociate samples not taken because the budget ran out. */
  readonly stopSkipped?: number;
  /** Filling through the API with the agent running: how many, by how many clients, first request to all ACTIVE. */
  readonly fill?: FillResult;
  /** The same fill in bulk requests (ports, then floating IPs, 100 a request); absent in runs before it. */
  readonly bulkFill?: FillResult;
  /** The per-request fill with the daemon's API workers (ControlMeasures.fillApiWorkers); absent in runs before it. */
  readonly workersFill?: FillResult;
  /**
   * The same fill just before it, on the workers' first requests (JIT warm-up included); workersFill is then the
   * second, warm one. Absent in runs before 2026-12-06, whose workersFill was this fresh one.
   */
  readonly workersFillFresh?: FillResult;
  /**
   * Floating IPs for ports that exist already (fillOntoPortsThroughApi: one request per floating IP), with 0 API
   * workers and then, warm, with the daemon's API workers. Absent in runs before 2026-12-06 (afternoon).
   */
  readonly ontoPortsFill?: FillResult;
  readonly workersOntoPortsFill?: FillResult;
  readonly churn?: ChurnResult;
  readonly scrape?: ScrapeResult;
  /** Measures this backend left out, and why. */
  readonly skipped?: {
    readonly fill?: string;
    readonly churn?: string;
    readonly scrape?: string;
    readonly disassociate?: string;
  };
  /** Associate samples whose API call failed (a timeout while the daemon was busy): counted as without reply. */
  readonly latencyApiErrors?: number;
  readonly restartResyncMs: number;
  readonly restartSent: number;
  readonly restartLost: number;
  readonly restartLongestGapMs: number;
  /** How long the stream across the restart lasted (absent: 6 s or as configured). */
  readonly restartStreamMs?: number;
  /** RSS when the daemon reported ready, after converging and after the restart: the larger. */
  readonly rssMiB: number;
  /**
   * RSS 10 s after converging, once the daemon has given back what the full pass grew its heap to
   * (src/daemon/heap-trim.ts): what an operator sizes a node for. Absent in runs before the trimmer.
   */
  readonly settledRssMiB?: number;
  readonly peakRssMiB: number;
}

export interface ControlResult {
  readonly options: Omit<ControlOptions, 'log'>;
  readonly points: ControlPoint[];
}

const ECHO_PORT = 7;
/** How long the daemon is left idle after converging before its RSS is read as settled. */
const SETTLE_MS = 10_000;
const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

/** Mappings in the kernel, summed over every router, as each backend reads them back. */
async function kernelMappings(t: ScaleTopology, backend: BackendName, ids: ScalePopulatedIds) {
  let total = 0;
  for (const r of t.routers) {
    const desired = {
      routerId: ids.routers[r.index]!.routerId,
      namespace: r.namespace,
      gatewayDevice: t.gatewayDevice,
      gatewayIp: r.gatewayIp,
      internalCidrs: [r.fixedCidr],
      mappings: Array.from({ length: t.shape.perRouter }, (_, i) => ({
        floatingIp: floatingIpOf(t, r.index, i),
        fixedIp: fixedIpOf(t, r.index, i),
      })),
    };
    total += (await createDataplane(backend).read(desired, desired)).inbound.size;
  }
  return total;
}

/**
 * The control plane at scale on one router per count, through the real daemon (`sfip serve`, its own process):
 * converge from empty, API create/associate to first packet through, restart with traffic flowing, and memory.
 */
export async function runControl(o: ControlOptions): Promise<ControlResult> {
  const points: ControlPoint[] = [];
  for (const fips of o.fipCounts) {
    points.push(
      await measureShape({
        prefix: o.prefix,
        shape: { routers: 1, perRouter: fips },
        backends: [o.backend],
        measuresOf: () => o,
        port: o.port,
        log: o.log,
      }).then((byBackend) => byBackend[0]!.point),
    );
  }
  const { log: _log, ...options } = o;
  return { options, points };
}

export interface ShapeOptions {
  readonly prefix: string;
  readonly shape: ScaleShape;
  readonly backends: readonly BackendName[];
  /** What each backend runs (iptables takes seconds a change at 100,000: it gets budgets and skips). */
  readonly measuresOf: (backend: BackendName) => ControlMeasures;
  readonly port: number;
  readonly log: (line: string) => void;
}

/**
 * One topology, every backend in turn: the store is populated once (a minute at 100,000) and copied for each
 * backend; the namespaces are built anew for each, so every converge starts from an empty kernel. `onPoint` is
 * called after each backend, so a run that fails later keeps what it measured.
 */
export async function measureShape(
  o: ShapeOptions,
  onPoint: (backend: BackendName, point: ControlPoint) => void = () => undefined,
): Promise<{ backend: BackendName; point: ControlPoint }[]> {
  const { measuresOf } = o;
  const samples = Math.max(...o.backends.map((b) => measuresOf(b).latencySamples));
  const fill = Math.max(...o.backends.map((b) => measuresOf(b).fillCount ?? 0));
  // The per-request fill, the bulk one and the one onto existing ports (ports and floating IPs both take fixed
  // addresses); with API workers the per-request fill twice more (fresh, then warm) and the one onto ports.
  const fills = o.backends.some((b) => measuresOf(b).fillApiWorkers !== undefined) ? 6 : 3;
  const t = scaleTopology(o.prefix, o.shape, { samples, fill: fills * fill });
  const template = mkdtempSync(join(tmpdir(), 'sfip-bench-cp-template-'));
  const out: { backend: BackendName; point: ControlPoint }[] = [];
  try {
    const populateStarted = performance.now();
    const ids = await populateScaleStore(template, t, o.backends[0]!, samples);
    const populateMs = performance.now() - populateStarted;
    o.log(
      `control: ${o.shape.routers} × ${o.shape.perRouter}: populated in ${(populateMs / 1000).toFixed(1)} s`,
    );
    for (const [k, backend] of o.backends.entries()) {
      const point = await measurePoint({
        t,
        ids,
        template,
        backend,
        populateMs,
        measures: measuresOf(backend),
        port: o.port + k,
        log: o.log,
      });
      out.push({ backend, point });
      onPoint(backend, point);
    }
  } finally {
    rmSync(template, { recursive: true, force: true });
  }
  return out;
}

interface PointOptions {
  readonly t: ScaleTopology;
  readonly ids: ScalePopulatedIds;
  readonly template: string;
  readonly backend: BackendName;
  readonly populateMs: number;
  readonly measures: ControlMeasures;
  readonly port: number;
  readonly log: (line: string) => void;
}

async function measurePoint(o: PointOptions): Promise<ControlPoint> {
  const { t, ids, measures: m } = o;
  const fips = t.shape.routers * t.shape.perRouter;
  const label = `control: ${o.backend} ${t.shape.routers} × ${t.shape.perRouter}`;
  const stateDir = mkdtempSync(join(tmpdir(), 'sfip-bench-cp-'));
  const replyTimeoutMs = m.replyTimeoutMs ?? 10_000;
  const budgetMs = m.sampleBudgetMs ?? Infinity;
  let server: ServerProcess | undefined;
  const helpers: NamespaceHelper[] = [];
  const removePins = () => {
    // eBPF pins outlive the namespaces; the same router ids come back for the next backend of this topology.
    for (const r of ids.routers) rmSync(join(PIN_ROOT, r.routerId), { recursive: true, force: true });
  };
  const unregister = cleanupOnInterrupt(async () => {
    for (const h of helpers) h.close();
    server?.child.kill('SIGKILL');
    await destroyScaleTopology(t);
    removePins();
    rmSync(stateDir, { recursive: true, force: true });
    rmSync(o.template, { recursive: true, force: true });
  });
  try {
    await buildScaleTopology(t);
    const copyStarted = performance.now();
    await copyPopulated(o.template, stateDir, ids, o.backend);
    const populateMs = o.populateMs + (performance.now() - copyStarted);
    const url = `http://127.0.0.1:${o.port}`;
    server = new ServerProcess(stateDir, o.port);
    const convergeMs = await server.whenReady(url, 600_000);
    const memory = server.memory();
    const mapped = await kernelMappings(t, o.backend, ids);
    o.log(
      `${label}: converged in ${convergeMs.toFixed(0)} ms, ${mapped} in the kernel, RSS ${memory.rssMiB.toFixed(0)} MiB`,
    );
    await sleep(SETTLE_MS);
    const settled = server.memory();
    o.log(`${label}: RSS ${settled.rssMiB.toFixed(0)} MiB ${SETTLE_MS / 1000} s later`);

    const echo = new NamespaceHelper(t.sink, ['--echo', String(ECHO_PORT)]);
    const sender = new NamespaceHelper(t.gen, ['--rpc']);
    helpers.push(echo, sender);
    await Promise.all([echo.ready, sender.ready]);
    const api = new ApiClient(url);
    const { latenciesMs, apiMs, latencyFailures, latencyApiErrors, sampled } = await associateSamples({
      t,
      ids,
      api,
      sender,
      samples: m.latencySamples,
      budgetMs,
      replyTimeoutMs,
      log: (line) => o.log(`${label}: ${line}`),
    });
    const sorted = [...latenciesMs].sort((a, b) => a - b);
    o.log(
      `${label}: associate → traffic p50 ${quantile(sorted, 0.5).toFixed(1)} ms p99 ${quantile(sorted, 0.99).toFixed(1)} ms (${sorted.length} of ${m.latencySamples})`,
    );
    /** Why a measure has no figures: left out for this backend, or failed (the run goes on to the others). */
    const skipped: Record<string, string> = Object.fromEntries(
      Object.entries(m.skip ?? {}).filter(([, why]) => why),
    );
    const attempt = async <T>(name: string, work: () => Promise<T>): Promise<T | undefined> => {
      try {
        return await work();
      } catch (error) {
        skipped[name] = `it failed: ${(error as Error).message.split('\n')[0]}`;
        o.log(`${label}: ${name} ${skipped[name]}`);
        return undefined;
      }
    };
    const stop = await attempt('disassociate', () =>
      disassociateSamples(api, sender, sampled, budgetMs, replyTimeoutMs),
    );
    const scrape =
      m.scrapeWindowMs && !m.skip?.scrape && sampled.length > 0
        ? await attempt('scrape', () => scrapeDuringShows(url, sampled[0]!.id, m.scrapeWindowMs!))
        : undefined;
    // The per-request fill, the bulk one, then floating IPs onto ports made just before: fillCount floating IPs each.
    const fillWith = async (how: string, run: typeof fillThroughApi, apiWorkers = 0) => {
      if (!m.fillCount || m.fillCount <= 0 || m.skip?.fill) return undefined;
      const networks = ids.routers.map((r) => r.internalNetworkId);
      const c0 = server!.cpuSeconds();
      const result = await attempt('fill', () =>
        run(url, networks, ids.externalNetworkId, m.fillCount!, m.fillBudgetMs),
      );
      const c1 = server!.cpuSeconds();
      if (!result) return undefined;
      o.log(`${label}: filled ${result.count} through the API${how} in ${result.ms.toFixed(0)} ms`);
      const cpu = { primaryS: c1.daemon - c0.daemon, workersS: c1.workers - c0.workers };
      return { ...result, ...(apiWorkers > 0 && { apiWorkers }), cpu };
    };
    const fill = await fillWith('', fillThroughApi);
    const bulkFill = await fillWith(' in bulk', bulkFillThroughApi);
    const ontoPortsFill = await fillWith(' onto existing ports', fillOntoPortsThroughApi);
    const restartAddress = floatingIpOf(t, 0, 0);
    const churn =
      m.churn && !m.skip?.churn
        ? await attempt('churn', () =>
            // Over node:http, as the fills: fetch's client took 0.5-0.88 of a core at 1,000 changes a second.
            churnAssociations(api, url, server!.child.pid!, restartAddress, {
              ...m.churn!,
              transport: httpTransport(MAX_IN_FLIGHT),
            }),
          )
        : undefined;
    if (churn)
      o.log(
        `${label}: churn ${churn.achievedPerSecond.toFixed(0)}/s, applied p50 ≤ ${churn.p50Ms} ms ` +
          `p99 ≤ ${churn.p99Ms} ms, drained in ${churn.drainMs.toFixed(0)} ms, ${churn.cpuCores.toFixed(2)} cores`,
      );

    // Restart with a stream through the first floating IP: stop, start, wait for ready. The stream outlasts the
    // restart (expected near the converge time), so every packet it could lose is counted.
    const intervalMs = 2;
    const restartStreamMs = Math.max(m.restartStreamMs, 1.5 * convergeMs + 1000);
    const stream = sender.call<{ sent: number; received: number; longestGapMs: number }>({
      op: 'stream',
      host: restartAddress,
      port: ECHO_PORT,
      count: Math.round(restartStreamMs / intervalMs),
      intervalMs,
    });
    await sleep(300);
    await server.stop();
    server = new ServerProcess(stateDir, o.port);
    const restartResyncMs = await server.whenReady(url, 600_000);
    const streamed = await stream;
    const after = server.memory();
    o.log(
      `${label}: restart ${restartResyncMs.toFixed(0)} ms, lost ${streamed.sent - streamed.received}/${streamed.sent}`,
    );
    // Last, so that nothing above runs with workers: the daemon again, with its API workers, and the per-request
    // fill as an operator would run it.
    let workersFill: FillResult | undefined;
    let workersFillFresh: FillResult | undefined;
    let workersOntoPortsFill: FillResult | undefined;
    if (m.fillApiWorkers !== undefined && m.fillCount && !m.skip?.fill) {
      await server.stop();
      server = new ServerProcess(stateDir, o.port, [], undefined, [], m.fillApiWorkers);
      await server.whenReady(url, 600_000);
      await sleep(SETTLE_MS);
      const count = m.fillApiWorkers === 'default' ? availableParallelism() : m.fillApiWorkers;
      // Twice: fresh workers run their first thousands of requests on code V8 has not optimised yet, each worker
      // warming up on its own share (profiled: ~30% more CPU per floating IP than warm). The 0-worker fills above
      // run in a process that the samples had warmed, so the second, warm fill is the like-for-like figure and
      // the goal's; the first is reported beside it.
      workersFillFresh = await fillWith(` with ${count} API workers, fresh`, fillThroughApi, count);
      if (workersFillFresh)
        workersFill = await fillWith(` with ${count} API workers, warm`, fillThroughApi, count);
      if (workersFill)
        workersOntoPortsFill = await fillWith(
          ` onto existing ports with ${count} API workers, warm`,
          fillOntoPortsThroughApi,
          count,
        );
    }
    return {
      fips,
      routers: t.shape.routers,
      populateMs,
      convergeMs,
      kernelMappings: mapped,
      latenciesMs,
      latencyP50Ms: quantile(sorted, 0.5),
      latencyP99Ms: quantile(sorted, 0.99),
      latencyFailures,
      ...(sampled.length < m.latencySamples && {
        latencySamplesPlanned: m.latencySamples,
        sampleBudgetMs: budgetMs,
      }),
      apiP50Ms: quantile(
        [...apiMs].sort((a, b) => a - b),
        0.5,
      ),
      ...(latencyApiErrors > 0 && { latencyApiErrors }),
      ...(stop && {
        stopP50Ms: quantile(stop.sorted, 0.5),
        stopP99Ms: quantile(stop.sorted, 0.99),
        stopSamples: stop.sorted.length,
        stopFailures: stop.failures,
        stopNeverAnswered: stop.neverAnswered,
      }),
      ...(stop && stop.skipped > 0 && { stopSkipped: stop.skipped, sampleBudgetMs: budgetMs }),
      ...(fill && { fill }),
      ...(bulkFill && { bulkFill }),
      ...(workersFill && { workersFill }),
      ...(workersFillFresh && { workersFillFresh }),
      ...(ontoPortsFill && { ontoPortsFill }),
      ...(workersOntoPortsFill && { workersOntoPortsFill }),
      ...(churn && { churn }),
      ...(scrape && { scrape }),
      ...(Object.keys(skipped).length > 0 && { skipped }),
      restartResyncMs,
      restartSent: streamed.sent,
      restartLost: streamed.sent - streamed.received,
      restartLongestGapMs: streamed.longestGapMs,
      restartStreamMs,
      rssMiB: Math.max(memory.rssMiB, after.rssMiB),
      settledRssMiB: settled.rssMiB,
      peakRssMiB: Math.max(memory.peakMiB, after.peakMiB),
    };
  } finally {
    unregister();
    for (const h of helpers) h.close();
    await server?.stop();
    await destroyScaleTopology(t);
    removePins();
    rmSync(stateDir, { recursive: true, force: true });
  }
}
