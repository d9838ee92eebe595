import type { Sample } from './measure.js';

/** What bench/tc-guest/main.ts prints (after `SFIP_TC_BENCH `). */
export interface TcBenchResult {
  readonly kernel: string;
  readonly repetitions: number;
  readonly routers: readonly { readonly name: string; readonly floatingIps: number }[];
  readonly samples: readonly Sample[];
}

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const fmt = (x: number) => Math.round(x).toLocaleString('en-US');

/** The `tc-guest` section of docs/benchmarks.md: per-packet instructions and the ratio to plain, per direction. */
export function tcGuestSection(r: TcBenchResult, command: string, at: string, seconds: number): string {
  const of = (router: string, direction: string) =>
    r.samples.filter((s) => s.router === router && s.direction === direction).map((s) => s.nsPerPacket);
  const cost = (router: string, direction: string) => median(of(router, direction));
  const range = (router: string, direction: string) => {
    const xs = of(router, direction);
    return `${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}`;
  };
  const rows = r.routers.flatMap((router) =>
    (['inbound', 'outbound'] as const).map((d) => {
      const ratio =
        router.name === 'plain' ? '1.00×' : `${(cost(router.name, d) / cost('plain', d)).toFixed(2)}×`;
      const label = router.name === 'plain' ? 'plain routing' : `tc, hashed, clsact`;
      return `| ${label} | ${fmt(router.floatingIps)} | ${d} | ${fmt(cost(router.name, d))} | ${range(router.name, d)} | ${ratio} |`;
    }),
  );
  return `## tc backend against plain routing, in the act_nat guest (issue 17)

The host kernel has no act_nat, so the tc backend's cost can only be measured in the guest that runs its tests
(Debian's cloud kernel ${r.kernel} under qemu). There, qemu runs with \`-icount shift=0\` on one vCPU: guest time
advances one nanosecond per executed instruction, so the figures are **executed guest instructions per packet**,
independent of host load, and not nanoseconds of any real CPU. Only the **ratio** to plain routing measured in the
same guest compares with the host's forwarding table above (TCG emulates no caches or branch predictors, so even
the ratio is an instruction count ratio, not a time ratio). trafgen sends 64-byte UDP frames of one flow; the
receiver counts and drops them in nft; ${r.repetitions} interleaved repetitions, medians, range over repetitions.
The guest kernel accounts CPU time in 10 ms ticks over about 400 ms of guest time per sample, so a figure is good
to about ±250-500 instructions (±0.04 in the ratio).
"tc" is the backend's default layout (hashed u32 lookup, clsact egress), the floating IP under test the last of
its router.

Command: \`${command}\` (${at.slice(0, 16).replace('T', ' ')} UTC, ${Math.round(seconds)} s).

| router | floating IPs | direction | instructions per packet | range | to plain |
| --- | ---: | --- | ---: | --- | ---: |
${rows.join('\n')}
`;
}
