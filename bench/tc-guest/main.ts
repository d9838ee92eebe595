/**
 * Per-packet cost of the tc backend in an act_nat kernel, for 1, 1,000 and 10,000 floating IPs, hashed against linear
 * lookup, and clsact against the seed's htb egress. Runs inside the guest (one vCPU, qemu -icount, so guest time
 * counts executed instructions and does not depend on how busy the host is); scripts/bench-tc.sh starts it and
 * writes docs/tc.md from what it prints.
 */
import { measure, type Sample } from './measure.js';
import { benchRouter, buildBenchRouter, destroyBenchRouter, type BenchRouter } from './topology.js';

const REPETITIONS = Number(process.env.TC_BENCH_REPS ?? 5);
/** Aim for about this much guest kernel time per measurement: ticks are 10 ms. */
const TARGET_NS = Number(process.env.TC_BENCH_TARGET_NS ?? 400_000_000);
const PILOT = 1000;

const prefix = 'tqb';
/**
 * `layouts` (default; scripts/bench-tc.sh, docs/tc.md): every lookup and egress layout. `ratio` (`npm run bench --
 * --only tc-guest`, docs/benchmarks.md): only the default layout against plain routing, for the cost ratio.
 */
const SET = process.env.TC_BENCH_SET ?? 'layouts';
const routers: BenchRouter[] =
  SET === 'ratio'
    ? [
        benchRouter(prefix, 'plain', null, 0),
        ...[1, 10_000].map((n) =>
          benchRouter(prefix, `hashed-${n}`, { egress: 'clsact', lookup: 'hashed' }, n),
        ),
      ]
    : [
        benchRouter(prefix, 'plain', null, 0),
        ...[1, 1000, 10_000].flatMap((n) => [
          benchRouter(prefix, `hashed-${n}`, { egress: 'clsact', lookup: 'hashed' }, n),
          benchRouter(prefix, `linear-${n}`, { egress: 'clsact', lookup: 'linear' }, n),
        ]),
        benchRouter(prefix, 'htb-hashed-1', { egress: 'htb', lookup: 'hashed' }, 1),
        benchRouter(prefix, 'htb-hashed-1000', { egress: 'htb', lookup: 'hashed' }, 1000),
      ];
if (SET !== 'ratio' && SET !== 'layouts') throw new Error(`TC_BENCH_SET=${SET}: expected layouts or ratio`);

const started = Date.now();
const log = (m: string) => process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0)}s] ${m}\n`);
try {
  for (const r of routers) {
    await buildBenchRouter(r);
    log(`built ${r.name}`);
  }
  const packets = new Map<string, number>();
  for (const r of routers) {
    for (const direction of ['inbound', 'outbound'] as const) {
      const pilot = await measure(r, direction, PILOT);
      const n = Math.round(Math.min(200_000, Math.max(2000, TARGET_NS / (pilot.nsPerPacket || 1))));
      packets.set(`${r.name} ${direction}`, n);
      log(`pilot ${r.name} ${direction}: ${pilot.nsPerPacket.toFixed(0)} ns/packet -> ${n} packets`);
    }
  }
  const samples: Sample[] = [];
  // Interleaved: every configuration once per round, so drift over time hits all of them alike.
  for (let rep = 0; rep < REPETITIONS; rep++) {
    for (const r of routers) {
      for (const direction of ['inbound', 'outbound'] as const) {
        samples.push(await measure(r, direction, packets.get(`${r.name} ${direction}`)!));
      }
    }
    log(`round ${rep + 1}/${REPETITIONS} done`);
  }
  const result = {
    kernel: (await import('node:os')).release(),
    repetitions: REPETITIONS,
    routers: routers.map((r) => ({ name: r.name, options: r.options, floatingIps: r.floatingIps })),
    samples,
  };
  process.stdout.write(`SFIP_TC_BENCH ${JSON.stringify(result)}\n`);
} finally {
  for (const r of routers) await destroyBenchRouter(r);
}
