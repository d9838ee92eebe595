import { run } from '../../src/exec/run.js';
import type { BackendName } from '../../src/model/index.js';
import { availability, installFloatingIps } from '../install.js';
import { shuffled } from '../stats.js';
import {
  benchTopology,
  buildTopology,
  destroyTopology,
  fixedIpOf,
  floatingIpOf,
  macOf,
  type BenchTopology,
} from '../topology.js';
import { kernelTimeNs } from './cpu.js';
import { steerReceiveTo } from './rps.js';
import { installSinkCounters, readSinkCounter } from './sink-counter.js';
import { sendFrames, type FlowPattern } from './trafgen.js';

export interface ForwardingOptions {
  readonly prefix: string;
  readonly backends: readonly BackendName[];
  readonly fipCounts: readonly number[];
  readonly repetitions: number;
  /** Packets per sample, sent at `ratePps`. Keep packets below nf_conntrack_max: new flows each take an entry. */
  readonly packets: number;
  readonly ratePps: number;
  readonly genCpu: number;
  readonly routerCpu: number;
  readonly seed: number;
  readonly log: (line: string) => void;
}

export interface ForwardingSample {
  readonly config: string;
  readonly fips: number;
  readonly pattern: FlowPattern;
  readonly rep: number;
  readonly sent: number;
  readonly delivered: number;
  readonly wallMs: number;
  /** Kernel time (system + irq + softirq) of the router CPU during the sample. */
  readonly cpuNs: number;
  /** The router CPU's kernel time per second with no traffic, measured in the same round (other load). */
  readonly idleNsPerSecond: number;
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

/** Fixed router ids, one per configuration, so chains and tables are easy to spot while a run is going. */
const ROUTER_IDS: Record<string, string> = {
  nftables: '00000000-0000-4000-8000-00000000b001',
  iptables: '00000000-0000-4000-8000-00000000b002',
  ebpf: '00000000-0000-4000-8000-00000000b003',
  tc: '00000000-0000-4000-8000-00000000b004',
};
export const benchRouterId = (backend: string) =>
  ROUTER_IDS[backend] ?? '00000000-0000-4000-8000-00000000b0ff';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until the sink's counter stops moving: the router may still be draining its backlog. */
async function settledCount(t: BenchTopology, sinkDevice: string): Promise<number> {
  let last = await readSinkCounter(t, sinkDevice);
  for (;;) {
    await sleep(100);
    const now = await readSinkCounter(t, sinkDevice);
    if (now === last) return now;
    last = now;
  }
}

async function idleNsPerSecond(cpu: number, ms: number): Promise<number> {
  const before = kernelTimeNs(cpu);
  const started = performance.now();
  await sleep(ms);
  return ((kernelTimeNs(cpu) - before) * 1000) / (performance.now() - started);
}

/**
 * Packets through one router per configuration ('plain' routing plus each available backend), interleaved in a
 * shuffled order per repetition. The generator runs pinned to genCpu and rate-limited; the router's receive work
 * is steered to routerCpu with RPS, and its cost is that CPU's kernel time per delivered packet.
 */
export async function runForwarding(o: ForwardingOptions): Promise<ForwardingResult> {
  const unavailable: { backend: string; reason: string }[] = [];
  const backends: BackendName[] = [];
  for (const b of o.backends) {
    const a = await availability(b);
    if (a.ok) backends.push(b);
    else unavailable.push({ backend: b, reason: a.reason });
  }
  const configs = ['plain', ...backends];
  const t = benchTopology(o.prefix, configs);
  const samples: ForwardingSample[] = [];
  const installs: { config: string; fips: number; applyMs: number }[] = [];
  await buildTopology(t);
  try {
    await installSinkCounters(t);
    const macs = new Map<string, { gen: string; router: string }>();
    for (const r of t.routers) {
      await steerReceiveTo(r.namespace, t.gatewayDevice, o.routerCpu);
      macs.set(r.name, {
        gen: await macOf(t.gen, r.genDevice),
        router: await macOf(r.namespace, t.gatewayDevice),
      });
    }
    for (const fips of [...o.fipCounts].sort((a, b) => a - b)) {
      for (const b of backends) {
        const r = t.routers.find((x) => x.name === b)!;
        const installed = await installFloatingIps(t, r, b, benchRouterId(b), fips);
        installs.push({ config: b, fips, applyMs: installed.applyMs });
        o.log(
          `forwarding: ${b} carries ${fips} floating IPs (applied in ${installed.applyMs.toFixed(0)} ms)`,
        );
      }
      for (let rep = 1; rep <= o.repetitions; rep++) {
        const idle = await idleNsPerSecond(o.routerCpu, 500);
        const order = shuffled(
          configs.flatMap((config) =>
            (['one-flow', 'new-flows'] as const).map((pattern) => ({ config, pattern })),
          ),
          o.seed + fips + rep,
        );
        for (const { config, pattern } of order) {
          const r = t.routers.find((x) => x.name === config)!;
          // The last floating IP: for rule lists (iptables) the worst position, for maps and hashes no different.
          const dst = config === 'plain' ? fixedIpOf(fips - 1) : floatingIpOf(fips - 1);
          await run('conntrack', ['-F'], { netns: r.namespace, okExitCodes: [1] });
          const before = await readSinkCounter(t, r.sinkDevice);
          const cpuBefore = kernelTimeNs(o.routerCpu);
          const started = performance.now();
          const mac = macs.get(config)!;
          await sendFrames({
            netns: t.gen,
            device: r.genDevice,
            frame: { srcMac: mac.gen, dstMac: mac.router, dst, pattern },
            packets: o.packets,
            ratePps: o.ratePps,
            cpu: o.genCpu,
          });
          const after = await settledCount(t, r.sinkDevice);
          const wallMs = performance.now() - started;
          const cpuNs = kernelTimeNs(o.routerCpu) - cpuBefore;
          const delivered = after - before;
          const busy = Math.max(0, cpuNs - (idle * wallMs) / 1000);
          samples.push({
            config,
            fips,
            pattern,
            rep,
            sent: o.packets,
            delivered,
            wallMs,
            cpuNs,
            idleNsPerSecond: idle,
            nsPerPacket: delivered > 0 ? busy / delivered : Number.NaN,
          });
          o.log(
            `forwarding: ${config} ${fips} FIPs ${pattern} rep ${rep}: ${delivered}/${o.packets} delivered, ` +
              `${delivered > 0 ? (busy / delivered).toFixed(0) : '-'} ns/packet`,
          );
        }
      }
    }
  } finally {
    await destroyTopology(t);
  }
  const { log: _log, ...options } = o;
  return { options, configs, unavailable, installs, samples };
}
