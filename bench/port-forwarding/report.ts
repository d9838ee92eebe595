import type { FlowPattern } from '../forwarding/trafgen.js';
import { summarize } from '../stats.js';

/** Configurations, by bench router name (short: it goes into device names). */
export const CONFIGS = ['plain', 'fip', 'pf', 'efip', 'epf', 'iptpf'] as const;
export type Config = (typeof CONFIGS)[number];

export interface Sample {
  config: Config;
  count: number;
  pattern: FlowPattern;
  rep: number;
  delivered: number;
  nsPerPacket: number;
}

export interface RunInfo {
  readonly reps: number;
  readonly packets: number;
  readonly ratePps: number;
  readonly command: string;
  readonly at: string;
}

/** The 1:1 row each row is compared with: the same backend's (nftables' for plain routing and the baseline). */
const ONE_TO_ONE: Record<Config, Config> = {
  plain: 'fip',
  fip: 'fip',
  pf: 'fip',
  efip: 'efip',
  epf: 'efip',
  iptpf: 'fip',
};

const SHORT: Record<Config, string> = {
  plain: 'plain',
  fip: 'nft 1:1',
  pf: 'nft forwarding',
  efip: 'eBPF 1:1',
  epf: 'eBPF forwarding',
  iptpf: 'iptables DNAT',
};

const PATTERNS = ['one-flow', 'new-flows'] as const;

const median = (samples: readonly Sample[], config: Config, count: number, pattern: FlowPattern) =>
  summarize(
    samples
      .filter((s) => s.config === config && s.count === count && s.pattern === pattern)
      .map((s) => s.nsPerPacket),
  );

const LABEL: Record<Config, string> = {
  plain: 'plain routing (no NAT)',
  fip: '1:1 floating IP (nftables)',
  pf: 'port forwarding (nftables, stateless)',
  efip: '1:1 floating IP (eBPF)',
  epf: 'port forwarding (eBPF, stateless)',
  iptpf: 'port forwarding (iptables DNAT, stateful)',
};

/** The whole table, with interquartile ranges and install times: benchmarks/port-forwarding.md. */
export function report(
  samples: Sample[],
  counts: readonly number[],
  configs: readonly Config[],
  o: RunInfo,
  installs: { config: string; count: number; applyMs: number }[],
  unavailable: { backend: string; reason: string }[],
): string {
  const lines = [
    '# Port forwarding: per-packet cost',
    '',
    `Generated ${o.at} by \`${o.command}\` (${o.reps} repetitions of ${o.packets} 64-byte UDP packets at ${o.ratePps} pps per cell, configurations interleaved in a shuffled order). Kernel time of the router's CPU per delivered packet, median [interquartile range], and the ratio of the median to the 1:1 floating IP's of the same backend at the same count (nftables' for plain routing and the iptables baseline; the issue's goal: at most 1.10). "count" is the number of forwardings (or 1:1 floating IPs) installed; the packet aims at the last one.`,
    ...unavailable.map((u) => `\nNot measured: ${u.backend} (${u.reason}).`),
    '',
    '| count | pattern | configuration | ns/packet median [p25-p75] | delivered (median) | ratio to 1:1 FIP |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const count of counts) {
    for (const pattern of PATTERNS) {
      const of = (config: Config) =>
        samples.filter((s) => s.config === config && s.count === count && s.pattern === pattern);
      for (const config of configs) {
        const fip = summarize(of(ONE_TO_ONE[config]).map((x) => x.nsPerPacket)).median;
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

/** The summary for benchmarks.md: medians side by side, one row per count and pattern. */
export function section(
  samples: Sample[],
  counts: readonly number[],
  configs: readonly Config[],
  o: RunInfo,
  unavailable: { backend: string; reason: string }[],
): string {
  const lines = [
    '## Port forwarding (issue 18)',
    '',
    `Run ${o.at} with \`${o.command}\` (opt-in: \`--only port-forwarding\`; \`--profile smoke\` takes seconds and only proves the harness, \`full\` a few minutes). ${o.reps} repetitions of ${o.packets} 64-byte UDP packets at ${o.ratePps} pps per cell, inbound through the floating address, configurations interleaved. Kernel time of the router's CPU per delivered packet, median in ns; the ratios, interquartile ranges and install times are in [benchmarks/port-forwarding.md](benchmarks/port-forwarding.md), the method in [port-forwarding.md](port-forwarding.md#benchmark).`,
    ...unavailable.map((u) => `\nNot measured: ${u.backend} (${u.reason}).`),
    '',
    `| forwardings | pattern | ${configs.map((c) => SHORT[c]).join(' | ')} |`,
    `| --- | --- | ${configs.map(() => '---').join(' | ')} |`,
  ];
  for (const count of counts)
    for (const pattern of PATTERNS)
      lines.push(
        `| ${count} | ${pattern} | ${configs.map((c) => median(samples, c, count, pattern).median.toFixed(0)).join(' | ')} |`,
      );
  return lines.join('\n') + '\n';
}
