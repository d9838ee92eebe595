/**
 * Per-packet cost through a forwarded port (issue 18), side by side in one run: plain routing, a 1:1 floating IP
 * and a port forwarding with 1, 1,000 and 10,000 forwardings installed on each stateless backend (nftables and
 * eBPF), and the same forwardings on the stateful baseline (iptables, Neutron's DNAT rules). Same harness as the
 * forwarding suite (bench/forwarding): trafgen pinned to one CPU and rate-limited, the router's receive work
 * steered to the other with RPS, cost = that CPU's kernel time per delivered packet, configurations interleaved
 * in a shuffled order per repetition, medians reported with the interquartile range. The packets go inbound
 * (generator -> floating address -> sink): the eBPF rows measure gw_ingress.
 *
 * Run through `npm run bench -- --only port-forwarding` (bench/main.ts), or alone with run-pf.ts.
 * Writes OUT/port-forwarding.json and the table in OUT/port-forwarding.md.
 */
import { RouterDataplane, WITHOUT_CHORES } from '../../src/dataplane/index.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../src/exec/run.js';
import { createDataplane, type DesiredRouter, type ForwardingRule } from '../../src/dataplane/index.js';
import type { BackendName, IPv4 } from '../../src/model/index.js';
import { availability } from '../install.js';
import { kernelTimeNs } from '../forwarding/cpu.js';
import { steerReceiveTo } from '../forwarding/rps.js';
import { pinProcessTo } from '../forwarding/pin.js';
import { installSinkCounters, readSinkCounter, settledCount } from '../forwarding/sink-counter.js';
import { sendFrames } from '../forwarding/trafgen.js';
import { shuffled } from '../stats.js';
import { writeMarkedSection } from '../report/write-section.js';
import { CONFIGS, report, section, type Config, type Sample } from './report.js';
import {
  benchTopology,
  buildTopology,
  destroyTopology,
  fixedIpOf,
  floatingIpOf,
  macOf,
  type BenchRouter,
  type BenchTopology,
} from '../topology.js';

type NatConfig = Exclude<Config, 'plain'>;
const BACKEND: Record<NatConfig, BackendName> = {
  fip: 'nftables',
  pf: 'nftables',
  efip: 'ebpf',
  epf: 'ebpf',
  iptpf: 'iptables',
};
const ROUTER_ID: Record<NatConfig, string> = {
  fip: '00000000-0000-4000-8000-00000000f001',
  pf: '00000000-0000-4000-8000-00000000f002',
  iptpf: '00000000-0000-4000-8000-00000000f003',
  efip: '00000000-0000-4000-8000-00000000f004',
  epf: '00000000-0000-4000-8000-00000000f005',
};
const FIRST_EXTERNAL_PORT = 1000;
const INTERNAL_PORT = 9;

/** `count` forwardings on one floating address: udp FIRST_EXTERNAL_PORT+i -> fixedIpOf(i):9. */
function forwardings(count: number): ForwardingRule[] {
  return Array.from({ length: count }, (_, i) => ({
    floatingIp: floatingIpOf(0),
    protocol: 'udp' as const,
    fixedIp: fixedIpOf(i),
    externalPortStart: FIRST_EXTERNAL_PORT + i,
    externalPortEnd: FIRST_EXTERNAL_PORT + i,
    internalPortStart: INTERNAL_PORT,
    internalPortEnd: INTERNAL_PORT,
  }));
}

function desiredFor(t: BenchTopology, r: BenchRouter, config: NatConfig, count: number): DesiredRouter {
  const base = {
    routerId: ROUTER_ID[config],
    namespace: r.namespace,
    gatewayDevice: t.gatewayDevice,
    gatewayIp: t.gatewayIp,
    // Shared SNAT keeps conntrack hooked in every configuration, as in production.
    internalCidrs: [t.fixedCidr],
  };
  // The 1:1 row: `count` floating IPs, the packet aimed at the last (a map lookup, so the count should not matter).
  if (config === 'fip' || config === 'efip') {
    return {
      ...base,
      mappings: Array.from({ length: count }, (_, i) => ({
        floatingIp: floatingIpOf(i),
        fixedIp: fixedIpOf(i),
      })),
    };
  }
  return { ...base, mappings: [], forwardings: forwardings(count) };
}

/** Where the generator aims, per configuration: the last mapping or forwarding installed. */
function target(config: Config, count: number): { dst: IPv4; dport: number } {
  if (config === 'plain') return { dst: fixedIpOf(count - 1), dport: INTERNAL_PORT };
  if (config === 'fip' || config === 'efip') return { dst: floatingIpOf(count - 1), dport: INTERNAL_PORT };
  return { dst: floatingIpOf(0), dport: FIRST_EXTERNAL_PORT + count - 1 };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface PortForwardingOptions {
  readonly reps: number;
  readonly packets: number;
  readonly ratePps: number;
  /** Forwardings (and 1:1 floating IPs) installed per round. */
  readonly counts: readonly number[];
  readonly prefix: string;
  /** Folder of port-forwarding.md and .json (docs/benchmarks). */
  readonly out: string;
  readonly genCpu: number;
  readonly routerCpu: number;
  /** How the run was started, for the report. */
  readonly command: string;
  /** A benchmarks.md to write the summary into, as its marked `port-forwarding` section. */
  readonly documentPath?: string;
  readonly log: (line: string) => void;
}

export async function runPortForwardingSuite(o: PortForwardingOptions): Promise<void> {
  const { reps, packets, ratePps, counts, genCpu, routerCpu, log } = o;
  // A backend that cannot run here (no clang-built object, no bpffs) leaves its rows out, said in the report.
  const unavailable: { backend: BackendName; reason: string }[] = [];
  for (const backend of ['nftables', 'ebpf', 'iptables'] as const) {
    const a = await availability(backend);
    if (!a.ok) unavailable.push({ backend, reason: a.reason });
  }
  const configs = CONFIGS.filter((c) => c === 'plain' || !unavailable.some((u) => u.backend === BACKEND[c]));
  const nat = configs.filter((c): c is NatConfig => c !== 'plain');
  const t = benchTopology(o.prefix, configs);
  const samples: Sample[] = [];
  const installs: { config: string; count: number; applyMs: number }[] = [];
  await buildTopology(t);
  // Off the router CPU: counter reads and tools started mid-sample are not the router's cost (forwarding/pin.ts).
  const unpin = await pinProcessTo(genCpu);
  try {
    await installSinkCounters(t);
    const macs = new Map<string, { gen: string; router: string }>();
    for (const r of t.routers) {
      await steerReceiveTo(r.namespace, t.gatewayDevice, routerCpu);
      macs.set(r.name, {
        gen: await macOf(t.gen, r.genDevice),
        router: await macOf(r.namespace, t.gatewayDevice),
      });
    }
    for (const count of counts) {
      for (const config of nat) {
        const r = t.routers.find((x) => x.name === config)!;
        const dataplane = new RouterDataplane(createDataplane(BACKEND[config]), WITHOUT_CHORES);
        const desired = desiredFor(t, r, config, count);
        const started = performance.now();
        await dataplane.reconcile(desired);
        const applyMs = performance.now() - started;
        installs.push({ config, count, applyMs });
        log(`${config}: ${count} installed in ${applyMs.toFixed(0)} ms`);
      }
      for (let rep = 1; rep <= reps; rep++) {
        const before = kernelTimeNs(routerCpu);
        const idleStart = performance.now();
        await sleep(500);
        const idle = ((kernelTimeNs(routerCpu) - before) * 1000) / (performance.now() - idleStart);
        const order = shuffled(
          configs.flatMap((config) =>
            (['one-flow', 'new-flows'] as const).map((pattern) => ({ config, pattern })),
          ),
          4242 + count + rep,
        );
        for (const { config, pattern } of order) {
          const r = t.routers.find((x) => x.name === config)!;
          const { dst, dport } = target(config, count);
          await run('conntrack', ['-F'], { netns: r.namespace, okExitCodes: [1] });
          const sinkBefore = await readSinkCounter(t, r.sinkDevice);
          const cpuBefore = kernelTimeNs(routerCpu);
          const started = performance.now();
          const mac = macs.get(config)!;
          await sendFrames({
            netns: t.gen,
            device: r.genDevice,
            frame: { srcMac: mac.gen, dstMac: mac.router, dst, dport, pattern },
            packets,
            ratePps,
            cpu: genCpu,
          });
          const after = await settledCount(t, r.sinkDevice);
          const wallMs = performance.now() - started;
          const busy = Math.max(0, kernelTimeNs(routerCpu) - cpuBefore - (idle * wallMs) / 1000);
          const delivered = after - sinkBefore;
          const nsPerPacket = delivered > 0 ? busy / delivered : Number.NaN;
          samples.push({ config, count, pattern, rep, delivered, nsPerPacket });
          log(
            `${config} ${count} ${pattern} rep ${rep}: ${delivered}/${packets} delivered, ${nsPerPacket.toFixed(0)} ns/packet`,
          );
        }
      }
    }
  } finally {
    // The eBPF routers' pins live in bpffs, outside the namespaces: remove them with their programs.
    for (const config of nat.filter((c) => BACKEND[c] === 'ebpf')) {
      const r = t.routers.find((x) => x.name === config)!;
      await new RouterDataplane(createDataplane('ebpf'), WITHOUT_CHORES)
        .remove(desiredFor(t, r, config, 1))
        .catch((error: unknown) => log(`${config}: cleanup failed: ${(error as Error).message}`));
    }
    await destroyTopology(t);
    await unpin();
  }
  const { out } = o;
  mkdirSync(out, { recursive: true });
  writeFileSync(
    join(out, 'port-forwarding.json'),
    JSON.stringify(
      { options: { reps, packets, ratePps, counts, genCpu, routerCpu }, unavailable, installs, samples },
      null,
      2,
    ) + '\n',
  );
  const info = { reps, packets, ratePps, command: o.command, at: new Date().toISOString() };
  writeFileSync(
    join(out, 'port-forwarding.md'),
    report(samples, counts, configs, info, installs, unavailable),
  );
  log(`wrote ${out}/port-forwarding.md`);
  if (o.documentPath) {
    writeMarkedSection(
      o.documentPath,
      'port-forwarding',
      section(samples, counts, configs, info, unavailable),
    );
    log(`wrote the port-forwarding section of ${o.documentPath}`);
  }
}
