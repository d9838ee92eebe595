/**
 * How long the nftables backend takes to program N floating IPs into a router namespace, to read them back,
 * and to add one more on top: `node --import tsx bench/apply-scale.ts [N...]`.
 * Runs in a scratch namespace with one veth pair (no uplink). Synthetic floating addresses come from 100.64.0.0/10,
 * which is never routed on the Internet; nothing leaves the namespace.
 */
import { performance } from 'node:perf_hooks';
import { applyAddressChanges, floatingAddresses, NftablesDataplane } from '../src/dataplane/index.js';
import type { DesiredRouter } from '../src/dataplane/types.js';
import { run } from '../src/exec/run.js';
import { syntheticRouter } from './synthetic-router.js';

const sizes = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
const counts = sizes.length ? sizes : [1000, 10_000, 100_000];
const ns = `sfbench${process.pid % 10000}`;
const routerId = '00000000-0000-4000-8000-00000000b001';

const desired = (n: number): DesiredRouter => syntheticRouter(routerId, ns, n);

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const v = await fn();
  return [v, performance.now() - t];
}

const dp = new NftablesDataplane();
await run('ip', ['netns', 'add', ns]);
try {
  await run('ip', ['-n', ns, 'link', 'add', 'qg-bench', 'type', 'veth', 'peer', 'name', 'peer0']);
  await run('ip', ['-n', ns, 'link', 'set', 'qg-bench', 'up']);
  console.log(
    '| floating IPs | first apply (structure + element loader) | addresses (ip -batch) | read back (nft -j + ip -j) | add one more (delta) |',
  );
  console.log('| ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const n of counts) {
    await dp.remove({ routerId, namespace: ns, gatewayDevice: 'qg-bench' });
    const want = desired(n);
    const empty = await dp.read(want, want);
    const plan = dp.plan(want, empty);
    // Through the backend: a missing table's first apply is its structure through nft, then the element loader.
    const [, nftMs] = await timed(() => dp.apply(plan));
    const [, addrMs] = await timed(() => applyAddressChanges(want, floatingAddresses(want), []));
    const reader = new NftablesDataplane(); // its first read of a router is deep, the next one quick
    const [actual, readMs] = await timed(() => reader.read(want, want));
    if (actual.inbound.size !== n || !actual.structureMatches)
      throw new Error(`read back ${actual.inbound.size} of ${n}`);
    const [quick, quickMs] = await timed(() => reader.read(want, want));
    if (quick.inbound.size !== n || !quick.structureMatches) throw new Error('quick read disagrees');
    const more = desired(n + 1);
    const delta = dp.plan(more, await dp.read(more, more));
    const [, deltaMs] = await timed(() => dp.apply(delta));
    console.log(
      `| ${n.toLocaleString('en')} | ${nftMs.toFixed(0)} ms | ${addrMs.toFixed(0)} ms | ${readMs.toFixed(0)} ms | ${quickMs.toFixed(0)} ms | ${deltaMs.toFixed(0)} ms |`,
    );
  }
} finally {
  await run('ip', ['netns', 'del', ns]);
}
