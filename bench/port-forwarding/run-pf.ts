/**
 * Per-packet cost through a forwarded port (issue 18), side by side in one run: plain routing, a 1:1 floating IP
 * (nftables), a port forwarding with 1, 1,000 and 10,000 forwardings installed (nftables, stateless), and the same
 * forwardings on the stateful baseline (iptables, Neutron's DNAT rules). Same harness as the forwarding suite
 * (bench/forwarding): trafgen pinned to one CPU and rate-limited, the router's receive work steered to the other
 * with RPS, cost = that CPU's kernel time per delivered packet, configurations interleaved in a shuffled order
 * per repetition, medians reported with the interquartile range.
 *
 *   tsx bench/port-forwarding/run-pf.ts [--reps 5] [--packets 100000] [--rate 200000] [--counts 1,1000,10000]
 *
 * Writes docs/benchmarks/port-forwarding.json and the table in docs/benchmarks/port-forwarding.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { run } from '../../src/exec/run.js';
import { createDataplane, type DesiredRouter, type ForwardingRule } from '../../src/dataplane/index.js';
import type { BackendName, IPv4 } from '../../src/model/index.js';
import { kernelTimeNs } from '../forwarding/cpu.js';
import { steerReceiveTo } from '../forwarding/rps.js';
import { installSinkCounters, readSinkCounter } from '../forwarding/sink-counter.js';
import { sendFrames, type FlowPattern } from '../forwarding/trafgen.js';
import { shuffled, summarize } from '../stats.js';
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

/** Configurations, by bench router name (short: it goes into device names). */
const CONFIGS = ['plain', 'fip', 'pf', 'iptpf'] as const;
type Config = (typeof CONFIGS)[number];
const BACKEND: Record<Exclude<Config, 'plain'>, BackendName> = {
  fip: 'nftables',
  pf: 'nftables',
  iptpf: 'iptables',
};
const ROUTER_ID: Record<Exclude<Config, 'plain'>, string> = {
  fip: '00000000-0000-4000-8000-00000000f001',
  pf: '00000000-0000-4000-8000-00000000f002',
  iptpf: '00000000-0000-4000-8000-00000000f003',
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

function desiredFor(
  t: BenchTopology,
  r: BenchRouter,
  config: Exclude<Config, 'plain'>,
  count: number,
): DesiredRouter {
  const base = {
    routerId: ROUTER_ID[config],
    namespace: r.namespace,
    gatewayDevice: t.gatewayDevice,
    gatewayIp: t.gatewayIp,
    // Shared SNAT keeps conntrack hooked in every configuration, as in production.
    internalCidrs: [t.fixedCidr],
  };
  // The 1:1 row: `count` floating IPs, the packet aimed at the last (a map lookup, so the count should not matter).
  if (config === 'fip') {
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
  if (config === 'fip') return { dst: floatingIpOf(count - 1), dport: INTERNAL_PORT };
  return { dst: floatingIpOf(0), dport: FIRST_EXTERNAL_PORT + count - 1 };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function settledCount(t: BenchTopology, device: string): Promise<number> {
  let last = await readSinkCounter(t, device);
  for (;;) {
    await sleep(100);
    const now = await readSinkCounter(t, device);
    if (now === last) return now;
    last = now;
  }
}

interface Sample {
  config: Config;
  count: number;
  pattern: FlowPattern;
  rep: number;
  delivered: number;
  nsPerPacket: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      reps: { type: 'string', default: '5' },
      packets: { type: 'string', default: '100000' },
      rate: { type: 'string', default: '200000' },
      counts: { type: 'string', default: '1,1000,10000' },
      prefix: { type: 'string', default: 'sfippf' },
      out: { type: 'string', default: 'docs/benchmarks' },
      'gen-cpu': { type: 'string', default: '0' },
      'router-cpu': { type: 'string', default: '1' },
    },
  });
  const reps = Number(values.reps);
  const packets = Number(values.packets);
  const ratePps = Number(values.rate);
  const counts = values.counts!.split(',').map(Number);
  const genCpu = Number(values['gen-cpu']);
  const routerCpu = Number(values['router-cpu']);
  const log = (line: string) => console.log(`[pf-bench] ${line}`);
  const t = benchTopology(values.prefix!, CONFIGS);
  const samples: Sample[] = [];
  const installs: { config: string; count: number; applyMs: number }[] = [];
  await buildTopology(t);
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
      for (const config of ['fip', 'pf', 'iptpf'] as const) {
        const r = t.routers.find((x) => x.name === config)!;
        const dataplane = createDataplane(BACKEND[config]);
        const desired = desiredFor(t, r, config, count);
        const started = performance.now();
        await dataplane.apply(dataplane.plan(desired, await dataplane.read(desired, desired)));
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
          CONFIGS.flatMap((config) =>
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
    await destroyTopology(t);
  }
  const out = values.out!;
  mkdirSync(out, { recursive: true });
  writeFileSync(
    join(out, 'port-forwarding.json'),
    JSON.stringify(
      { options: { reps, packets, ratePps, counts, genCpu, routerCpu }, installs, samples },
      null,
      2,
    ) + '\n',
  );
  writeFileSync(
    join(out, 'port-forwarding.md'),
    report(samples, counts, { reps, packets, ratePps }, installs),
  );
  log(`wrote ${out}/port-forwarding.md`);
}

const LABEL: Record<Config, string> = {
  plain: 'plain routing (no NAT)',
  fip: '1:1 floating IP (nftables)',
  pf: 'port forwarding (nftables, stateless)',
  iptpf: 'port forwarding (iptables DNAT, stateful)',
};

function report(
  samples: Sample[],
  counts: number[],
  o: { reps: number; packets: number; ratePps: number },
  installs: { config: string; count: number; applyMs: number }[],
): string {
  const lines = [
    '# Port forwarding: per-packet cost',
    '',
    `Generated by \`tsx bench/port-forwarding/run-pf.ts\` (${o.reps} repetitions of ${o.packets} 64-byte UDP packets at ${o.ratePps} pps per cell, configurations interleaved in a shuffled order). Kernel time of the router's CPU per delivered packet, median [interquartile range], and the ratio of the median to the 1:1 floating IP's at the same count (the issue's goal: at most 1.10). "count" is the number of forwardings (or 1:1 floating IPs) installed; the packet aims at the last one.`,
    '',
    '| count | pattern | configuration | ns/packet median [p25-p75] | delivered (median) | ratio to 1:1 FIP |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const count of counts) {
    for (const pattern of ['one-flow', 'new-flows'] as const) {
      const of = (config: Config) =>
        samples.filter((s) => s.config === config && s.count === count && s.pattern === pattern);
      const fip = summarize(of('fip').map((s) => s.nsPerPacket)).median;
      for (const config of CONFIGS) {
        const s = summarize(of(config).map((x) => x.nsPerPacket));
        const delivered = summarize(of(config).map((x) => x.delivered)).median;
        lines.push(
          `| ${count} | ${pattern} | ${LABEL[config]} | ${s.median.toFixed(0)} [${s.p25.toFixed(0)}-${s.p75.toFixed(0)}] | ${delivered.toFixed(0)} | ${(s.median / fip).toFixed(2)} |`,
        );
      }
    }
  }
  lines.push('', '| configuration | count | install (read + plan + apply) ms |', '| --- | --- | --- |');
  for (const i of installs)
    lines.push(`| ${LABEL[i.config as Config]} | ${i.count} | ${i.applyMs.toFixed(0)} |`);
  return lines.join('\n') + '\n';
}

await main();
