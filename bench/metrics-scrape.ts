/**
 * What one /metrics scrape costs at N floating IPs: `node --import tsx bench/metrics-scrape.ts [N...]`.
 * - the kernel read of both counter sets of one router: through the compiled set dumper, and through `nft -j`;
 * - prom-client turning N floating IPs into 4N samples (packets and bytes, in and out) of Prometheus text.
 * Runs in a scratch namespace; synthetic floating addresses come from 100.64.0.0/10 and nothing is sent.
 * Reports medians of 3 runs (1 run for `nft -j` above 10,000, which takes seconds).
 */
import { performance } from 'node:perf_hooks';
import { SET_DUMP_HELPER } from '../src/dataplane/common/set-dump-channel.js';
import { readNftCounters } from '../src/dataplane/nftables/counters.js';
import { renderFull } from '../src/dataplane/nftables/render.js';
import type { DesiredRouter, FloatingIpCounters } from '../src/dataplane/types.js';
import { run } from '../src/exec/run.js';
import { syntheticRouter } from './synthetic-router.js';
import {
  createMetricsRegistry,
  ReconcileHistory,
  type Observation,
  type Observer,
} from '../src/metrics/index.js';

const sizes = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
const counts = sizes.length ? sizes : [1000, 10_000, 100_000];
const ns = `tmbench${process.pid % 10000}`;
const routerId = '00000000-0000-4000-8000-00000000b002';

const desired = (n: number): DesiredRouter => syntheticRouter(routerId, ns, n);

async function median<T>(times: number, fn: () => Promise<T>): Promise<[T, number]> {
  const ms: number[] = [];
  let value: T | undefined;
  for (let i = 0; i < times; i++) {
    const t = performance.now();
    value = await fn();
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  return [value!, ms[Math.floor(ms.length / 2)]!];
}

function observation(counters: FloatingIpCounters[]): Observation {
  return {
    at: Date.now(),
    readMs: 0,
    conntrack: [{ namespace: ns, usage: { count: 0, max: 262144 }, error: null }],
    routers: [
      {
        id: routerId,
        name: 'bench',
        backend: 'nftables',
        namespace: ns,
        gatewayDevice: 'qg-bench',
        problem: '',
        countersSupported: true,
        countersError: null,
        statusCounts: { ACTIVE: counters.length, DOWN: 0, ERROR: 0 },
        floatingIps: counters.map((c, i) => ({
          id: `fip-${i}`,
          address: c.floatingIp,
          fixedIp: null,
          status: 'ACTIVE' as const,
          statusReason: '',
        })),
        counters,
      },
    ],
  };
}

await run('ip', ['netns', 'add', ns]);
try {
  console.log(
    '| floating IPs | counters: set dumper | counters: `nft -j` | prom-client text | /metrics size | scrape total (dumper + text) |',
  );
  console.log('| ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const n of counts) {
    const want = desired(n);
    await run('nft', ['-f', '-'], { netns: ns, input: renderFull(want) });
    const [viaHelper, helperMs] = await median(3, () => readNftCounters(want, run, SET_DUMP_HELPER));
    const [viaNft, nftMs] = await median(n > 10_000 ? 1 : 3, () => readNftCounters(want, run, null));
    if (viaHelper.length !== n || viaNft.length !== n) {
      throw new Error(`read ${viaHelper.length} (dumper) and ${viaNft.length} (nft) counters, expected ${n}`);
    }
    const observer = { observe: async () => observation(viaHelper) } as unknown as Observer;
    const registry = createMetricsRegistry({
      observer,
      history: new ReconcileHistory(),
      processMetrics: false,
    });
    const [text, textMs] = await median(3, () => registry.metrics());
    const mb = (Buffer.byteLength(text) / 1e6).toFixed(1);
    const f = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);
    console.log(
      `| ${n.toLocaleString('en')} | ${f(helperMs)} | ${f(nftMs)} | ${f(textMs)} | ${mb} MB | ${f(helperMs + textMs)} |`,
    );
  }
} finally {
  await run('ip', ['netns', 'del', ns]);
}
