/**
 * What each nftables rule change of issue 17 (item 4) bought, in executed instructions per packet: run in the guest
 * under `scripts/guest/run.sh --icount`, where guest time counts instructions, so the figures do not depend on how
 * busy the (shared) host is, which swamped the host's nanosecond figures (±30% per sample) for changes of a few
 * percent. Each variant is the backend's own rendered table (one floating IP) with the changes undone as text edits,
 * on the same plain topology as bench/tc-guest/main.ts, beside plain routing; 64-byte UDP of one flow, both
 * directions, interleaved repetitions, medians.
 *
 *   scripts/guest/run.sh --icount -- node --import tsx bench/tc-guest/nft-rules.ts
 */
import { run } from '../../src/exec/run.js';
import { renderFull } from '../../src/dataplane/nftables/render.js';
import type { DesiredRouter } from '../../src/dataplane/types.js';
import { measure, type Direction, type Sample } from './measure.js';
import {
  benchRouter,
  buildBenchRouter,
  destroyBenchRouter,
  GATEWAY_IP,
  macOf,
  TARGET_FIXED,
  TARGET_FLOATING,
  type BenchRouter,
} from './topology.js';

const REPETITIONS = Number(process.env.NFT_BENCH_REPS ?? 3);
/**
 * Guest time per measurement: 10 ms ticks over about 3 s keep the resolution near 0.5% (a single change is worth
 * a few percent). The pilot's own 1,000 packets only size it, so the actual time is 1.5-6 s.
 */
const TARGET_NS = Number(process.env.NFT_BENCH_TARGET_NS ?? 3_000_000_000);

type Edit = (lines: string[]) => string[];
/** Undo one change in the current rendering (which has all of them). */
const noAccept: Edit = (ls) => ls.map((l) => l.replace(' notrack accept comment', ' notrack comment'));
const qosRules: Edit = (ls) =>
  ls.flatMap((l) =>
    /^\s+ip daddr @fipcount_in /.test(l)
      ? ['    ip daddr @qos_in_bw drop', '    ip daddr @qos_in_pps drop', l]
      : /^\s+ip saddr @fipcount_out /.test(l)
        ? ['    ip saddr @qos_out_bw drop', '    ip saddr @qos_out_pps drop', l]
        : [l],
  );
const noPostAccept: Edit = (ls) => ls.filter((l) => !/^\s+oifname != .* accept comment/.test(l));

const VARIANTS: Record<string, Edit[]> = {
  before: [noAccept, qosRules, noPostAccept],
  accept: [qosRules, noPostAccept],
  qosrules: [noAccept, noPostAccept],
  postaccept: [noAccept, qosRules],
  all: [],
};

const prefix = 'tqn';
const plain = benchRouter(prefix, 'plain', null, 0);
// Non-null options make measure() aim inbound frames at the floating IP; the router itself is programmed below.
const nat = Object.keys(VARIANTS).map((name) => ({ ...benchRouter(prefix, name, null, 1), options: {} }));
const routers: BenchRouter[] = [plain, ...nat];

async function desiredOf(r: BenchRouter): Promise<DesiredRouter> {
  return {
    routerId: '00000000-0000-4000-8000-' + Buffer.from(r.name).toString('hex').padStart(12, '0').slice(-12),
    namespace: r.ns.router,
    gatewayDevice: 'qg',
    gatewayIp: GATEWAY_IP,
    internalCidrs: ['10.255.255.0/24'],
    // The port's MAC, or anti-spoofing would drop the VM's packets.
    mappings: [
      { floatingIp: TARGET_FLOATING, fixedIp: TARGET_FIXED, fixedMac: await macOf(r.ns.sink, 'eth0') },
    ],
  };
}

const started = Date.now();
const log = (m: string) => process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0)}s] ${m}\n`);
try {
  await buildBenchRouter(plain);
  for (const r of nat) {
    await buildBenchRouter({ ...r, options: null });
    // The rendering loads on 6.1 as it is: membership tests use plain sets (src/dataplane/nftables/membership.ts).
    const text = VARIANTS[r.name]!.reduce((ls, edit) => edit(ls), renderFull(await desiredOf(r)).split('\n'));
    await run('nft', ['-f', '-'], { netns: r.ns.router, input: text.join('\n') });
    log(`built ${r.name}`);
  }
  const packets = new Map<string, number>();
  for (const r of routers) {
    for (const direction of ['inbound', 'outbound'] as const) {
      const pilot = await measure(r, direction, 1000);
      if (pilot.delivered < 1000)
        throw new Error(`${r.name} ${direction}: ${pilot.delivered}/1000 delivered`);
      packets.set(`${r.name} ${direction}`, Math.round(Math.min(400_000, TARGET_NS / pilot.nsPerPacket)));
    }
  }
  const samples: Sample[] = [];
  for (let rep = 0; rep < REPETITIONS; rep++) {
    for (const r of routers)
      for (const direction of ['inbound', 'outbound'] as Direction[])
        samples.push(await measure(r, direction, packets.get(`${r.name} ${direction}`)!));
    log(`round ${rep + 1}/${REPETITIONS} done`);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const cost = (name: string, d: Direction) =>
    median(samples.filter((s) => s.router === name && s.direction === d).map((s) => s.nsPerPacket));
  for (const r of routers) {
    const cells = (['inbound', 'outbound'] as const).map(
      (d) =>
        `${d} ${cost(r.name, d).toFixed(0)} (${(cost(r.name, d) / cost('plain', d)).toFixed(2)}x plain, ${r.name === 'plain' ? '' : `${(cost(r.name, d) - cost('before', d)).toFixed(0)} vs before`})`,
    );
    console.log(`SFIP_NFT_RULES ${r.name}: ${cells.join('; ')}`);
  }
  console.log(`SFIP_NFT_SAMPLES ${JSON.stringify(samples)}`);
} finally {
  for (const r of routers) await destroyBenchRouter(r);
}
