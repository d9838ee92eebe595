import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chosenCapacity, entriesNeeded, keepsCapacity } from '../../src/dataplane/ebpf/capacity.js';
import { EbpfDataplane } from '../../src/dataplane/ebpf/ebpf-backend.js';
import { generationName } from '../../src/dataplane/ebpf/object.js';
import { planEbpf, type PlanSettings } from '../../src/dataplane/ebpf/plan.js';
import type { EbpfActualRouter, EbpfBatch } from '../../src/dataplane/ebpf/state.js';
import { narrowedTo } from '../../src/dataplane/router-state.js';
import type { ActualRouter, DesiredRouter, FloatingMapping } from '../../src/dataplane/types.js';
import { parseIPv4 } from '../../src/model/index.js';
import { ids, config, emptyState, object, programmedState } from '../support/ebpf-state.js';

const ROUTER = '6c6dc72e-c74a-4386-989b-f048b1d408e6';
/** The backend's defaults: at least 1,024 entries, at most 262,144. */
const settings: PlanSettings = {
  capacity: 262_144,
  minCapacity: 1024,
  untrackMark: 0x10000000,
  hairpinMark: 0x20000000,
  routerDir: `/sys/fs/bpf/sfip/${ROUTER}`,
};

/** `n` mappings (no kernel sees them: addresses from the benchmarking range 198.18.0.0/15, fixed in 10/8). */
function mappings(n: number): FloatingMapping[] {
  return Array.from({ length: n }, (_, i) => ({
    floatingIp: parseIPv4(`198.${18 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`),
    fixedIp: parseIPv4(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`),
  }));
}
const router = (n: number): DesiredRouter => ({
  routerId: ROUTER,
  namespace: 'qrouter-1',
  gatewayDevice: 'qg-r1',
  gatewayIp: parseIPv4('203.0.113.2'),
  internalCidrs: ['10.0.0.0/24'],
  mappings: mappings(n),
});

/** The kernel as an apply of `desired` left it, in a generation of `capacity` entries. */
function running(desired: DesiredRouter, capacity: number): EbpfActualRouter & ActualRouter {
  const name = generationName(object, capacity);
  const state = programmedState(desired, settings, {
    live: name,
    generations: [{ name, mapsMatch: true, capacity, programIds: ids, config }],
  });
  return { ...state, addresses: new Set() };
}
const batchOf = (plan: { batch: string | null }) => JSON.parse(plan.batch!) as EbpfBatch;

describe('eBPF map capacity per router', () => {
  it('sizes a new router to the next power of two of twice its entries, within the minimum and the maximum', () => {
    for (const [count, capacity] of [
      [0, 1024],
      [1, 1024],
      [512, 1024],
      [513, 2048],
      [1000, 2048],
      [100_000, 262_144],
      [131_072, 262_144],
    ] as const) {
      const batch = batchOf(planEbpf(router(count), emptyState(), settings));
      assert.equal(batch.build, true);
      assert.equal(batch.capacity, capacity, `${count} floating IPs`);
      assert.equal(batch.generation, generationName(object, capacity));
    }
    assert.equal(chosenCapacity(200_000, 1024, 262_144), 262_144, 'never over the maximum');
  });

  it('counts forwarded ports and forwarded floating IPs in what the maps must hold', () => {
    const rule = {
      floatingIp: parseIPv4('203.0.113.30'),
      protocol: 'udp' as const,
      externalPortStart: 10_000,
      externalPortEnd: 12_999,
      fixedIp: parseIPv4('10.0.0.40'),
      internalPortStart: 10_000,
      internalPortEnd: 12_999,
    };
    assert.equal(entriesNeeded(10, [rule]), 3000);
    assert.equal(entriesNeeded(10, [{ ...rule, externalPortEnd: 10_000, internalPortEnd: 10_000 }]), 11);
    const batch = batchOf(planEbpf({ ...router(10), forwardings: [rule] }, emptyState(), settings));
    assert.equal(batch.capacity, 8192);
  });

  it('keeps the running generation for the same count (a restart or resync swaps nothing)', () => {
    for (const count of [1, 1000, 100_000]) {
      const desired = router(count);
      const plan = planEbpf(desired, running(desired, chosenCapacity(count, 1024, 262_144)), settings);
      assert.equal(plan.batch, null, `${count} floating IPs`);
    }
  });

  it('grows into a bigger generation, with every mapping, once the running one cannot hold the router', () => {
    const before = router(1024);
    const after = router(1025);
    const actual = running(before, 1024);
    assert.equal(planEbpf(before, actual, settings).batch, null, 'a full generation still serves');
    const plan = planEbpf(after, actual, settings);
    const batch = batchOf(plan);
    assert.equal(batch.build, true);
    assert.equal(batch.capacity, 4096);
    assert.equal(batch.generation, generationName(object, 4096));
    assert.equal(batch.inbound.set.length, 1025, 'the new maps get every mapping');
    assert.deepEqual(batch.dropGenerations, [generationName(object, 1024)]);
    assert.match(batch.tc!, /filter replace dev qg-r1 ingress/);
  });

  it('builds again a bigger generation a killed agent left pinned but not swapped in (it may be half filled)', () => {
    const before = router(1024);
    const small = generationName(object, 1024);
    const big = generationName(object, 4096);
    const actual = programmedState(before, settings, {
      live: small,
      generations: [
        { name: small, mapsMatch: true, capacity: 1024, programIds: ids, config },
        { name: big, mapsMatch: true, capacity: 4096, programIds: ids, config },
      ],
    });
    const batch = batchOf(planEbpf(router(1025), actual, settings));
    assert.equal(batch.generation, big);
    assert.equal(batch.build, true);
    assert.equal(
      batch.inbound.set.length,
      1025,
      'filled with every mapping, not the difference to the live one',
    );
    assert.deepEqual(batch.dropGenerations, [small]);
  });

  it('shrinks only when far below: a generation 8 times the size wanted is rebuilt, 4 times is kept', () => {
    assert.equal(planEbpf(router(20_000), running(router(20_000), 262_144), settings).batch, null);
    const batch = batchOf(planEbpf(router(16_000), running(router(16_000), 262_144), settings));
    assert.equal(batch.build, true);
    assert.equal(batch.capacity, 32_768);
    assert.equal(keepsCapacity(1024, 1, 1024, 262_144), true, 'the minimum never shrinks');
  });

  it('rebuilds a generation bigger than a lowered maximum, and keeps one a raised maximum still allows', () => {
    const desired = router(10);
    const lowered = batchOf(planEbpf(desired, running(desired, 1024), { ...settings, capacity: 512 }));
    assert.equal(lowered.build, true);
    assert.equal(lowered.capacity, 512);
    assert.equal(planEbpf(desired, running(desired, 1024), { ...settings, capacity: 1 << 20 }).batch, null);
  });

  it('still refuses a router over the maximum, naming the floating IP that does not fit', () => {
    assert.throws(
      () => planEbpf(router(5), emptyState(), { ...settings, capacity: 4, minCapacity: 4 }),
      /Floating IP 198\.18\.0\.4 \(fixed IP 10\.0\.0\.4\) does not fit: .* hold at most 4 floating IPs/,
    );
  });

  it('sends a delta the running maps cannot hold to a full pass, and plans one they can', () => {
    const dataplane = new EbpfDataplane(undefined, { minCapacity: 1024 });
    const all = mappings(1025);
    const before = router(1024);
    const actual = running(before, 1024);
    const grow = { added: [all[1024]!], removed: [] };
    assert.equal(
      dataplane.planDelta({
        desired: { ...before, mappings: grow.added },
        before: narrowedTo(actual, grow),
        installed: 1025,
      }),
      undefined,
    );
    const swap = { added: [{ ...all[1024]!, fixedIp: all[0]!.fixedIp }], removed: [all[0]!] };
    const plan = dataplane.planDelta({
      desired: { ...before, mappings: swap.added },
      before: narrowedTo(actual, swap),
      installed: 1024,
    });
    const batch = batchOf(plan!);
    assert.equal(batch.build, false);
    assert.equal(batch.generation, generationName(object, 1024));
    assert.deepEqual(batch.inbound.remove, [all[0]!.floatingIp]);
    // Far below the running size: a delta never rebuilds, so the full pass shrinks it.
    const big = running(before, 262_144);
    assert.equal(
      dataplane.planDelta({
        desired: { ...before, mappings: swap.added },
        before: narrowedTo(big, swap),
        installed: 1024,
      }),
      undefined,
    );
    assert.throws(
      () =>
        new EbpfDataplane(undefined, { capacity: 1024 }).planDelta({
          desired: { ...before, mappings: grow.added },
          before: narrowedTo(actual, grow),
          installed: 1025,
        }),
      /does not fit: .* hold at most 1024 floating IPs/,
    );
  });
});
