/**
 * What one floating IP's QoS limit change costs on the nftables backend with 1, 1,000 and 10,000 limited
 * floating IPs on the router (issue 19's update benchmark; the goal is flat, ≤ 50 ms). Each count gets a fresh
 * table in a scratch namespace, rendered by the backend itself (every floating IP with an egress bandwidth and
 * an ingress packet-rate limit), then REPS changes of one floating IP's limit and REPS translation changes of an
 * unlimited floating IP (a limited router must not slow the usual deltas), each through the agent's long-lived
 * nft channel as a delta is applied. The median is reported. Needs root.
 *
 *   node --import tsx bench/nft-qos-updates.ts [reps=9]
 */
import { performance } from 'node:perf_hooks';
import { run } from '../src/exec/run.js';
import { sharedChannels } from '../src/dataplane/common/netns-channels.js';
import { renderDelta, renderFull } from '../src/dataplane/nftables/render.js';
import { limitsKey, type DesiredRouter, type FloatingMapping } from '../src/dataplane/types.js';
import { ipv4FromUint32, type IPv4 } from '../src/model/index.js';

const reps = Number(process.argv[2] ?? 9);
const namespace = `sfipqb${process.pid % 100_000}`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** One delta, as renderDelta writes it for a change of `from` into `to`, applied through the channel. */
async function timedDelta(
  desired: DesiredRouter,
  from: FloatingMapping,
  to: FloatingMapping,
): Promise<number> {
  const text = renderDelta(
    { ...desired, mappings: [to] },
    new Map([[from.floatingIp as string, from.fixedIp as string]]),
    new Map([[from.fixedIp as string, from.floatingIp as string]]),
    new Map(),
    new Map(from.limits ? [[from.floatingIp as string, limitsKey(from.limits)]] : []),
  ).text;
  if (!text) throw new Error('no change rendered');
  const started = performance.now();
  await sharedChannels.nft(namespace, text);
  return performance.now() - started;
}

await run('ip', ['netns', 'add', namespace]);
try {
  console.log('| limited floating IPs | one limit change (median) | unlimited floating IP moved (median) |');
  console.log('| -------------------: | ------------------------: | -----------------------------------: |');
  for (const count of [1, 1_000, 10_000]) {
    const limited: FloatingMapping[] = Array.from({ length: count }, (_, i) => ({
      floatingIp: ipv4FromUint32(0xc6120000 + i), // 198.18.0.0/15, the benchmarking range
      fixedIp: ipv4FromUint32(0x0a000000 + i),
      limits: [
        { direction: 'egress', unit: 'kbit', rate: 10_000, burst: 8_000 },
        { direction: 'ingress', unit: 'packets', rate: 1_000, burst: 100 },
      ],
    }));
    const plain: FloatingMapping = {
      floatingIp: ipv4FromUint32(0xc613ff00),
      fixedIp: ipv4FromUint32(0x0aff0000),
    };
    const desired: DesiredRouter = {
      routerId: '6c6dc72e-c74a-4386-989b-f048b1d408e6',
      namespace,
      gatewayDevice: 'lo',
      gatewayIp: '203.0.113.2' as IPv4,
      internalCidrs: ['10.0.0.0/8'],
      mappings: [...limited, plain],
    };
    await run('nft', ['-f', '-'], { netns: namespace, input: renderFull(desired) });
    const limitChanges: number[] = [];
    const moves: number[] = [];
    let changing = limited[0]!;
    let moving = plain;
    for (let k = 0; k < reps; k++) {
      const next: FloatingMapping = {
        ...changing,
        limits: [{ direction: 'ingress', unit: 'packets', rate: 2_000 + k, burst: 100 }],
      };
      limitChanges.push(await timedDelta(desired, changing, next));
      changing = next;
      const moved: FloatingMapping = { ...moving, fixedIp: ipv4FromUint32(0x0aff0001 + k) };
      moves.push(await timedDelta(desired, moving, moved));
      moving = moved;
    }
    console.log(
      `| ${count.toLocaleString('en')} | ${median(limitChanges).toFixed(1)} ms | ${median(moves).toFixed(1)} ms |`,
    );
  }
} finally {
  sharedChannels.close(namespace);
  await run('ip', ['netns', 'del', namespace]);
}
