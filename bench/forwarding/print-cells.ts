import { summarize } from '../stats.js';
import type { ForwardingResult, ForwardingSample } from './run-forwarding.js';

/**
 * The side-by-side table of a scratch forwarding run (ablations, A/B builds, floors), to stdout: per fixed point,
 * packet size and pattern, each configuration's median ns per packet, its multiple of plain routing, the range, the
 * median packets per softirq and every sample.
 */
export function printCells(result: ForwardingResult): void {
  const cell = (s: readonly ForwardingSample[]) => summarize(s.map((x) => x.nsPerPacket));
  for (const fips of new Set(result.samples.map((s) => s.fips))) {
    for (const ipBytes of new Set(result.samples.map((s) => s.ipBytes))) {
      for (const pattern of ['one-flow', 'new-flows'] as const) {
        const of = (config: string) =>
          result.samples.filter(
            (s) =>
              !s.programTime &&
              s.fips === fips &&
              s.ipBytes === ipBytes &&
              s.pattern === pattern &&
              s.config === config,
          );
        const plain = cell(of('plain')).median;
        console.log(
          `\n${fips} FIPs, ${ipBytes} B, ${pattern}: median ns/packet, cost × plain, min–max, pkts/softirq`,
        );
        for (const config of result.configs) {
          const s = of(config);
          const c = cell(s);
          const batching = summarize(s.map((x) => (x.netRxSoftirqs ? x.delivered / x.netRxSoftirqs : NaN)));
          console.log(
            `${config.padEnd(12)} ${c.median.toFixed(0).padStart(6)}  ${(c.median / plain).toFixed(2)}×  ` +
              `${c.min.toFixed(0)}–${c.max.toFixed(0)}  ${batching.median.toFixed(1)}  ` +
              `[${s.map((x) => x.nsPerPacket.toFixed(0)).join(' ')}]`,
          );
        }
      }
    }
  }
}
