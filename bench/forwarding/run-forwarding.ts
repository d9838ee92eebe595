import { run } from '../../src/exec/run.js';
import type { BackendName } from '../../src/model/index.js';
import { availability, installFloatingIps, removeEbpfPins } from '../install.js';
import { shuffled } from '../stats.js';
import {
  benchTopology,
  buildTopology,
  destroyTopology,
  fixedIpOf,
  floatingIpOf,
  macOf,
  type BenchRouter,
} from '../topology.js';
import { kernelTimeNs, netRxSoftirqs } from './cpu.js';
import { pinProcessTo } from './pin.js';
import { burstReceive, steerReceiveTo } from './rps.js';
import { installSinkCounters, readSinkCounter, settledCount } from './sink-counter.js';
import { gatewayIngressRuns, withBpfStats, type ProgramRuns } from '../qos/program-time.js';
import { keepTickRunning } from './tick-keeper.js';
import { sendFrames, type FlowPattern } from './trafgen.js';

export interface ForwardingOptions {
  readonly prefix: string;
  readonly backends: readonly BackendName[];
  readonly fipCounts: readonly number[];
  readonly repetitions: number;
  /** Packets per sample, sent at `ratePps`. Keep packets below nf_conntrack_max: new flows each take an entry. */
  readonly packets: number;
  /** 0: saturation, trafgen writes as fast as it can and the router CPU drops what it cannot take. */
  readonly ratePps: number;
  /** IP packet lengths to send (46 = a 64-byte frame). */
  readonly ipBytes: readonly number[];
  /**
   * The stateful baseline (iptables) walks its rule list for every new flow: about 1.8 ms a packet at 100,000
   * floating IPs, so a sample of 250,000 new flows takes minutes. Above this count it is not measured (absent:
   * measured everywhere, as the full profile does).
   */
  readonly statefulMaxFips?: number;
  /**
   * Scratch configurations measured beside the backends: a name (device names take `g-<name>`, so at most 13
   * characters) and how to load its router for a count of floating IPs. For ablations (bench/nft-ablation.ts),
   * never for the product's figures.
   */
  readonly scratch?: ReadonlyMap<string, (r: BenchRouter, fips: number) => Promise<void>>;
  /** Hand the router CPU its packets in bursts of this many µs (rps.ts burstReceive); absent: frame by frame. */
  readonly burstUs?: number;
  /**
   * Scratch configurations that forward without translating: their traffic goes to the fixed address, as plain
   * routing's does (bench/fast-path-floor.ts).
   */
  readonly untranslated?: ReadonlySet<string>;
  /**
   * Leave plain routing out: for a profiler attached to the router CPU for the whole run, so that everything it
   * samples belongs to the one configuration measured (bench/nft-ablation.ts --perf).
   */
  readonly withoutPlain?: boolean;
  /**
   * false: record no program time. Otherwise the first repetition of every fixed point adds one sample per eBPF
   * cell with kernel.bpf_stats_enabled on, for gw_ingress's own run time. Those samples are kept out of the cost per
   * packet: with stats on every BPF program run also reads the clock twice and updates its counters, which the
   * eBPF configurations would pay per packet and plain routing would not. Every other sample runs with stats off.
   */
  readonly bpfStats?: boolean;
  readonly genCpu: number;
  readonly routerCpu: number;
  readonly seed: number;
  readonly log: (line: string) => void;
}

export interface ForwardingSample {
  readonly config: string;
  readonly fips: number;
  readonly pattern: FlowPattern;
  /** IP packet length; results from before it was recorded were all 46 (64-byte frames). */
  readonly ipBytes?: number;
  readonly rep: number;
  readonly sent: number;
  readonly delivered: number;
  readonly wallMs: number;
  /** Kernel time (system + irq + softirq) of the router CPU during the sample. */
  readonly cpuNs: number;
  /** The router CPU's kernel time per second with no traffic, measured in the same round (other load). */
  readonly idleNsPerSecond: number;
  /** NET_RX softirqs the router CPU ran during the sample (absent in results from before it was recorded). */
  readonly netRxSoftirqs?: number;
  /**
   * eBPF configurations: gw_ingress's own run time per run (kernel.bpf_stats_enabled), which other work on the
   * machine does not blur. A redirect's transmit happens after the program returns and is not in it.
   */
  readonly gwIngressNsPerRun?: number;
  /**
   * true: a sample taken with bpf_stats on, for gwIngressNsPerRun only; its cost per packet includes the stats'
   * own overhead and is not a figure of the configuration. (Results from before 2026-12-06 took every sample with
   * stats on and do not carry this field.)
   */
  readonly programTime?: boolean;
  /** (cpuNs - idle share) / delivered. */
  readonly nsPerPacket: number;
}

export interface ForwardingResult {
  readonly options: Omit<ForwardingOptions, 'log'>;
  readonly configs: string[];
  readonly unavailable: { backend: string; reason: string }[];
  readonly installs: { config: string; fips: number; applyMs: number }[];
  readonly samples: ForwardingSample[];
}

/**
 * A measured configuration: 'plain' (no NAT), a backend by name, or EBPF_TC_PATH, the eBPF backend with its
 * fast path turned off (every packet through the stack, as before issue 17).
 */
export const EBPF_TC_PATH = 'ebpf-tcpath';
function backendOf(config: string): { backend: BackendName; fastPath?: boolean } {
  if (config === EBPF_TC_PATH) return { backend: 'ebpf', fastPath: false };
  return { backend: config as BackendName };
}

/** Fixed router ids, one per configuration, so chains and tables are easy to spot while a run is going. */
const ROUTER_IDS: Record<string, string> = {
  nftables: '00000000-0000-4000-8000-00000000b001',
  iptables: '00000000-0000-4000-8000-00000000b002',
  ebpf: '00000000-0000-4000-8000-00000000b003',
  tc: '00000000-0000-4000-8000-00000000b004',
  [EBPF_TC_PATH]: '00000000-0000-4000-8000-00000000b005',
};
export const benchRouterId = (backend: string) =>
  ROUTER_IDS[backend] ?? '00000000-0000-4000-8000-00000000b0ff';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** With the tick keeper running, this reads ~0 on a quiet CPU: proof that accounting is complete. */
async function idleNsPerSecond(cpu: number, ms: number): Promise<number> {
  const before = kernelTimeNs(cpu);
  const started = performance.now();
  await sleep(ms);
  return ((kernelTimeNs(cpu) - before) * 1000) / (performance.now() - started);
}

/**
 * Packets through one router per configuration ('plain' routing plus each available backend), interleaved in a
 * shuffled order per repetition. The generator runs pinned to genCpu; the router's receive work is steered to
 * routerCpu with RPS, and its cost is that CPU's kernel time per delivered packet. This process
 * and everything it starts run on genCpu for the whole run, so that its counter reads and program starts are never
 * charged to the router.
 */
export async function runForwarding(o: ForwardingOptions): Promise<ForwardingResult> {
  const unavailable: { backend: string; reason: string }[] = [];
  const backends: BackendName[] = [];
  for (const b of o.backends) {
    const a = await availability(b);
    if (a.ok) backends.push(b);
    else unavailable.push({ backend: b, reason: a.reason });
  }
  const configs: string[] = [...(o.withoutPlain ? [] : ['plain']), ...backends];
  if (backends.includes('ebpf')) configs.push(EBPF_TC_PATH);
  configs.push(...(o.scratch?.keys() ?? []));
  const t = benchTopology(o.prefix, configs);
  const samples: ForwardingSample[] = [];
  const installs: { config: string; fips: number; applyMs: number }[] = [];
  const macs = new Map<string, { gen: string; router: string }>();
  await buildTopology(t);
  const unpin = await pinProcessTo(o.genCpu);
  try {
    await measure();
  } finally {
    await unpin();
  }
  const { log: _log, ...options } = o;
  return { options, configs, unavailable, installs, samples };

  async function measure(): Promise<void> {
    try {
      await installSinkCounters(t);
      for (const r of t.routers) {
        await steerReceiveTo(r.namespace, t.gatewayDevice, o.routerCpu);
        if (o.burstUs) await burstReceive(r.namespace, t.gatewayDevice, t.gen, r.genDevice, o.burstUs);
        macs.set(r.name, {
          gen: await macOf(t.gen, r.genDevice),
          router: await macOf(r.namespace, t.gatewayDevice),
        });
      }
      for (const fips of [...o.fipCounts].sort((a, b) => a - b)) {
        for (const config of configs.filter((c) => c !== 'plain' && measuredAt(c, fips))) {
          const r = t.routers.find((x) => x.name === config)!;
          const scratch = o.scratch?.get(config);
          if (scratch) {
            await scratch(r, fips);
            o.log(`forwarding: scratch ${config} carries ${fips} floating IPs`);
            continue;
          }
          const { backend, ...options } = backendOf(config);
          const installed = await installFloatingIps(t, r, backend, benchRouterId(config), fips, options);
          installs.push({ config, fips, applyMs: installed.applyMs });
          o.log(
            `forwarding: ${config} carries ${fips} floating IPs (applied in ${installed.applyMs.toFixed(0)} ms)`,
          );
        }
        for (let rep = 1; rep <= o.repetitions; rep++) {
          // The busy loop runs through the round's idle reading and every sample, and stops before installs.
          const tick = await keepTickRunning(o.routerCpu);
          try {
            await round(fips, rep);
          } finally {
            await tick.stop();
          }
        }
      }
    } finally {
      await destroyTopology(t);
      for (const config of configs.filter((c) => isEbpf(c))) await removeEbpfPins(benchRouterId(config));
    }
  }

  function measuredAt(config: string, fips: number): boolean {
    return config !== 'iptables' || fips <= (o.statefulMaxFips ?? Number.POSITIVE_INFINITY);
  }

  function isEbpf(config: string): boolean {
    return !o.scratch?.has(config) && backendOf(config).backend === 'ebpf';
  }

  async function round(fips: number, rep: number): Promise<void> {
    const idle = await idleNsPerSecond(o.routerCpu, 500);
    o.log(
      `forwarding: CPU ${o.routerCpu} idle kernel time ${(idle / 1e6).toFixed(2)} ms/s with the tick kept`,
    );
    const order = shuffled(
      configs
        .filter((c) => measuredAt(c, fips))
        .flatMap((config) =>
          (['one-flow', 'new-flows'] as const).flatMap((pattern) =>
            o.ipBytes.map((ipBytes) => ({ config, pattern, ipBytes })),
          ),
        ),
      o.seed + fips + rep,
    );
    for (const cell of order) await sample(idle, fips, rep, cell, false);
    // Program time: one more sample per eBPF cell, with stats on only while these samples run (one switch each way).
    const timed = order.filter((c) => isEbpf(c.config));
    if (rep === 1 && o.bpfStats !== false && timed.length > 0) {
      await withBpfStats(async () => {
        for (const cell of timed) await sample(idle, fips, rep, cell, true);
      });
    }
  }

  async function sample(
    idle: number,
    fips: number,
    rep: number,
    { config, pattern, ipBytes }: { config: string; pattern: FlowPattern; ipBytes: number },
    programTime: boolean,
  ): Promise<void> {
    const r = t.routers.find((x) => x.name === config)!;
    // The last floating IP: for rule lists (iptables) the worst position, for maps and hashes no different.
    const dst =
      config === 'plain' || o.untranslated?.has(config) ? fixedIpOf(fips - 1) : floatingIpOf(fips - 1);
    await run('conntrack', ['-F'], { netns: r.namespace, okExitCodes: [1] });
    const before = await readSinkCounter(t, r.sinkDevice);
    const programBefore = programTime ? await gatewayIngressRuns(benchRouterId(config)) : null;
    const cpuBefore = kernelTimeNs(o.routerCpu);
    const softirqsBefore = netRxSoftirqs(o.routerCpu);
    const started = performance.now();
    const mac = macs.get(config)!;
    await sendFrames({
      netns: t.gen,
      device: r.genDevice,
      frame: { srcMac: mac.gen, dstMac: mac.router, dst, pattern, ipBytes },
      packets: o.packets,
      ratePps: o.ratePps,
      cpu: o.genCpu,
    });
    const after = await settledCount(t, r.sinkDevice);
    const wallMs = performance.now() - started;
    const cpuNs = kernelTimeNs(o.routerCpu) - cpuBefore;
    const softirqs = netRxSoftirqs(o.routerCpu) - softirqsBefore;
    const program = programBefore
      ? perRun(programBefore, await gatewayIngressRuns(benchRouterId(config)))
      : null;
    const delivered = after - before;
    const busy = Math.max(0, cpuNs - (idle * wallMs) / 1000);
    samples.push({
      config,
      fips,
      pattern,
      ipBytes,
      rep,
      sent: o.packets,
      delivered,
      wallMs,
      cpuNs,
      idleNsPerSecond: idle,
      netRxSoftirqs: softirqs,
      ...(program !== null && { gwIngressNsPerRun: program }),
      ...(programTime && { programTime: true }),
      nsPerPacket: delivered > 0 ? busy / delivered : Number.NaN,
    });
    o.log(
      `forwarding: ${config} ${fips} FIPs ${pattern} ${ipBytes} B rep ${rep}${programTime ? ' (bpf_stats on)' : ''}: ` +
        `${delivered}/${o.packets} delivered, ` +
        `${delivered > 0 ? (busy / delivered).toFixed(0) : '-'} ns/packet, ` +
        `${softirqs > 0 ? (delivered / softirqs).toFixed(1) : '-'} packets/softirq` +
        (program !== null ? `, gw_ingress ${program.toFixed(0)} ns/run` : ''),
    );
  }
}

function perRun(before: ProgramRuns, after: ProgramRuns): number | null {
  const runs = after.runs - before.runs;
  return runs > 0 ? (after.runTimeNs - before.runTimeNs) / runs : null;
}
