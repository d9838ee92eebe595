import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../../src/client/api-client.js';
import { run } from '../../src/exec/run.js';
import type { BackendName } from '../../src/model/index.js';
import { convergenceProblems } from '../faults/kernel-check.js';
import { ServeProcess } from '../faults/serve-process.js';
import { TaggedStreams } from '../faults/tagged-streams.js';
import { scrapeServe } from '../faults/serve-metrics.js';
import { buildChurnLab, destroyChurnLab, churnLabSpec, type ChurnLab } from './churn-lab.js';
import { Churner, type ChurnOp } from './churner.js';
import { memoryTrend, type MemoryTrend } from './memory.js';
import { judge, type DirectionVerdict } from './verdicts.js';

export interface ChurnOptions {
  readonly prefix: string;
  readonly backend: BackendName;
  /** How this run is labelled in the report (e.g. "iptables, no conntrack cleanup"). */
  readonly label: string;
  /** Further `sfip serve` arguments. */
  readonly serveArgs: readonly string[];
  readonly durationS: number;
  readonly opsPerSecond: number;
  /** API requests in flight at once (each on different floating IPs and ports). */
  readonly concurrency: number;
  readonly vms: number;
  readonly portsPerVm: number;
  readonly poolSize: number;
  /** One packet per key every this many ms, in each direction. */
  readonly packetIntervalMs: number;
  /** The in-flight bound: a delivery to a previous owner later than this after the acknowledgement is wrong. */
  readonly boundMs: number;
  /** How long after an acknowledged change a mapping must have been stable for its packets to count for loss. */
  readonly settleMs: number;
  readonly port: number;
  readonly seed: number;
  readonly log: (line: string) => void;
}

export interface ChurnResult {
  readonly label: string;
  readonly backend: BackendName;
  readonly options: Omit<ChurnOptions, 'log' | 'prefix' | 'port'>;
  readonly ops: Record<ChurnOp, number>;
  readonly opsTotal: number;
  readonly failures: string[];
  readonly apiP50Ms: number;
  readonly apiP99Ms: number;
  readonly inbound: DirectionVerdict;
  readonly outbound: DirectionVerdict;
  /** Problems left once the agent had time to converge (empty when store, statuses and kernel agree). */
  readonly convergence: string[];
  readonly convergeMs: number;
  /**
   * Conntrack entries at the end of flows through the floating IPs then associated, and of shared SNAT (which
   * proves conntrack was hooked in the router namespace, so that zero means something).
   */
  readonly conntrackFloating: number;
  readonly conntrackShared: number;
  /** serve's resident memory (from /proc) and V8 heap in use (from its /metrics) over the run. */
  readonly memory: MemoryTrend;
  readonly heap: MemoryTrend;
  /** Reconcile passes of the agent during the run, from its own histogram. */
  readonly reconciles: number;
  readonly reconcileMeanMs: number;
  readonly reconcileP99Ms: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))]! : 0;
};

/** Entries of flows through the floating IPs associated at the end (their addresses or fixed IPs), and of shared SNAT. */
async function conntrackCounts(
  lab: ChurnLab,
  associated: ReadonlyMap<string, string | null>,
): Promise<{ floating: number; shared: number }> {
  const addresses = [...associated].flatMap(([floating, fixed]) => (fixed ? [floating, fixed] : []));
  const { stdout } = await run('conntrack', ['-L', '-f', 'ipv4'], {
    netns: lab.routerNamespace,
    okExitCodes: [1],
  });
  const lines = stdout.split('\n').filter((l) => l.includes('src='));
  const floating = lines.filter((l) => addresses.some((a) => l.includes(`=${a} `))).length;
  const shared = lines.filter((l) => l.includes(`dst=${lab.gatewayIp} `)).length;
  return { floating, shared };
}

/**
 * Floating IPs churn through the API at a steady rate while the external host sends tagged packets to every
 * pool address and every VM port sends tagged packets out; afterwards every packet is judged against the
 * acknowledged ownership history, the kernel against the store, and serve's memory against itself.
 */
export async function runChurn(o: ChurnOptions): Promise<ChurnResult> {
  const stateDir = mkdtempSync(join(tmpdir(), 'sfip-churn-'));
  // serve writes its dashboard token there on first start; /metrics accepts it as a bearer token.
  const metricsToken = () => readFileSync(join(stateDir, 'dashboard-token'), 'utf8').trim();
  let streams: TaggedStreams | undefined;
  let serve: ServeProcess | undefined;
  try {
    serve = new ServeProcess({
      stateDir,
      port: o.port,
      backend: o.backend,
      args: ['--resync-interval', '10s', ...o.serveArgs],
    });
    await serve.whenReady();
    const api = new ApiClient(serve.url);
    const lab = await buildChurnLab(api, o);
    o.log(`churn ${o.label}: lab up, ${lab.ports.length} ports, pool of ${lab.pool.length}`);

    streams = await TaggedStreams.listen(lab, {
      inbound: lab.pool,
      receivers: lab.ports,
      senders: lab.ports,
      intervalMs: o.packetIntervalMs,
    });
    const live = streams;
    // Side calls (tags, collection) run alongside the churn; their failures are kept and raised at the end.
    const pending: Promise<unknown>[] = [];
    const sideErrors: Error[] = [];
    const track = (p: Promise<unknown>) => pending.push(p.catch((e: Error) => sideErrors.push(e)));
    const churner = new Churner({
      api,
      externalNetworkId: lab.router.externalNetworkId,
      pool: lab.pool,
      // The last port never gets a floating IP: its traffic keeps shared SNAT (and so conntrack) busy in the
      // router, which is what makes "no conntrack entry for floating-IP flows" mean something.
      ports: lab.ports.slice(0, -1),
      seed: o.seed,
      onChange: (inbound, outbound) => {
        for (const [key, gen] of inbound) track(live.setGeneration('inbound', key, gen));
        for (const [key, gen] of outbound) track(live.setGeneration('outbound', key, gen));
      },
    });
    // Half the pool starts associated, so flows through floating IPs exist before the first of them moves.
    await churner.populate(Math.min(lab.ports.length - 1, Math.ceil(lab.pool.length / 2)));
    await live.send();

    const t0 = performance.now();
    const memory: [number, number][] = [];
    const sampler = setInterval(() => {
      try {
        memory.push([(performance.now() - t0) / 1000, serve!.rssMiB()]);
      } catch {
        /* serve is gone; the run fails elsewhere */
      }
    }, 500);
    const collector = setInterval(() => track(live.collect()), 3000);
    const heap: [number, number][] = [];
    const scraper = setInterval(
      () =>
        track(
          scrapeServe(serve!.url, metricsToken()).then((m) => {
            heap.push([(performance.now() - t0) / 1000, m.heapUsedMiB]);
          }),
        ),
      5000,
    );
    let inFlight = 0;
    const steps: Promise<unknown>[] = [];
    try {
      const gap = 1000 / o.opsPerSecond;
      for (let k = 0; performance.now() - t0 < o.durationS * 1000; k++) {
        if (inFlight < o.concurrency) {
          inFlight++;
          steps.push(churner.step().finally(() => inFlight--));
        }
        const due = t0 + (k + 1) * gap;
        await sleep(Math.max(0, due - performance.now()));
      }
      await Promise.all(steps);
      // Keep sending for the in-flight bound, so that late deliveries of the last changes are seen and judged.
      await sleep(o.boundMs);
    } finally {
      clearInterval(collector);
      clearInterval(sampler);
      clearInterval(scraper);
    }
    const traffic = await live.stop();
    await Promise.all(pending);
    if (sideErrors.length > 0) throw sideErrors[0];
    o.log(
      `churn ${o.label}: ${Object.values(churner.counts).reduce((s, n) => s + n, 0)} changes, ` +
        `${traffic.inboundRecords.length} inbound and ${traffic.outboundRecords.length} outbound packets received`,
    );

    const convergeStart = performance.now();
    let convergence = await convergenceProblems(join(stateDir, 'sfip.db'), o.backend);
    while (convergence.length > 0 && performance.now() - convergeStart < 15_000) {
      await sleep(250);
      convergence = await convergenceProblems(join(stateDir, 'sfip.db'), o.backend);
    }
    const convergeMs = performance.now() - convergeStart;
    const conntrack = await conntrackCounts(lab, churner.expected());
    const metrics = await scrapeServe(serve.url, metricsToken());
    const options = { boundUs: o.boundMs * 1000, settleUs: o.settleMs * 1000 };
    const inbound = judge(
      'inbound',
      churner.inbound,
      traffic.inboundLogs,
      traffic.inboundRecords,
      (r) => r[4],
      options,
    );
    const outbound = judge(
      'outbound',
      churner.outbound,
      traffic.outboundLogs,
      traffic.outboundRecords,
      (r) => (r[5] === lab.gatewayIp ? null : r[5]),
      options,
    );
    const { log: _log, prefix: _prefix, port: _port, ...kept } = o;
    return {
      label: o.label,
      backend: o.backend,
      options: kept,
      ops: churner.counts,
      opsTotal: Object.values(churner.counts).reduce((s, n) => s + n, 0),
      failures: churner.failures,
      apiP50Ms: pct(churner.latenciesMs, 0.5),
      apiP99Ms: pct(churner.latenciesMs, 0.99),
      inbound,
      outbound,
      convergence,
      convergeMs,
      conntrackFloating: conntrack.floating,
      conntrackShared: conntrack.shared,
      memory: memoryTrend(memory, Math.min(5, o.durationS / 4)),
      heap: memoryTrend(heap, Math.min(5, o.durationS / 4)),
      reconciles: metrics.reconciles,
      reconcileMeanMs: metrics.reconcileMeanMs,
      reconcileP99Ms: metrics.reconcileP99Ms,
    };
  } finally {
    streams?.close();
    await serve?.stop().catch((error: Error) => o.log(`churn ${o.label}: ${error.message}`));
    await destroyChurnLab(churnLabSpec(o));
    rmSync(stateDir, { recursive: true, force: true });
  }
}
