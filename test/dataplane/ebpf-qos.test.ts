/**
 * The eBPF backend's QoS map: how a floating IP's limits become struct qos_limits and back, and what a change of
 * limits plans (map writes only: no rebuild, no program reload). The packets are in ebpf.qos-wire.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planEbpf, type PlanSettings } from '../../src/dataplane/ebpf/plan.js';
import { qosDrops, qosValueBytes, qosValueText, toleranceNs } from '../../src/dataplane/ebpf/qos.js';
import type { EbpfBatch } from '../../src/dataplane/ebpf/state.js';
import {
  limitsKey,
  type DesiredRouter,
  type FloatingMapping,
  type RateLimit,
} from '../../src/dataplane/types.js';
import { parseIPv4 } from '../../src/model/index.js';
import { narrowedTo } from '../../src/dataplane/router-state.js';
import { programmedState } from '../support/ebpf-state.js';

const ip = parseIPv4;
const limits: RateLimit[] = [
  { direction: 'egress', unit: 'kbit', rate: 10_000, burst: 8_000 },
  { direction: 'egress', unit: 'packets', rate: 2_000, burst: 200 },
  { direction: 'ingress', unit: 'kbit', rate: 100_000_000, burst: 12 },
  { direction: 'ingress', unit: 'packets', rate: 100_000_000, burst: 100_000_000 },
];
const settings: PlanSettings = {
  capacity: 8,
  minCapacity: 8,
  untrackMark: 0x10000000,
  hairpinMark: 0x20000000,
  routerDir: '/sys/fs/bpf/sfip/6c6dc72e-c74a-4386-989b-f048b1d408e6',
};
const structure: Omit<DesiredRouter, 'mappings'> = {
  routerId: '6c6dc72e-c74a-4386-989b-f048b1d408e6',
  namespace: 'qrouter-1',
  gatewayDevice: 'qg-r1',
  gatewayIp: ip('203.0.113.2'),
  internalCidrs: ['10.0.0.0/24'],
};
const mapping = (fixed: string, l?: RateLimit[]): FloatingMapping => ({
  floatingIp: ip('203.0.113.10'),
  fixedIp: ip(fixed),
  ...(l && { limits: l }),
});
/** A delta as the router layer plans it: `removed` as recorded, `added` as wanted now. */
const planDelta = (removed: FloatingMapping[], added: FloatingMapping[]) => {
  const recorded = programmedState({ ...structure, mappings: removed }, settings, {}, removed);
  const withLimits = {
    ...recorded,
    addresses: new Set<string>(),
    limits: new Map(
      removed.flatMap((m) => (m.limits ? [[m.floatingIp as string, limitsKey(m.limits)]] : [])),
    ),
  };
  const before = narrowedTo(withLimits, { added, removed });
  const plan = planEbpf({ ...structure, mappings: added }, before, settings);
  return { plan, batch: plan.batch === null ? null : (JSON.parse(plan.batch) as EbpfBatch) };
};

describe('eBPF QoS map', () => {
  it('writes the four buckets and reads the same limits back, at the extremes of the API ranges', () => {
    const key = limitsKey(limits);
    const bytes = qosValueBytes(key);
    assert.equal(bytes.length, 128);
    assert.equal(qosValueText(bytes), key);
    // in_bw is bucket 0: tolerance = 12 kbit at 100 Gbit/s = 120 ns; out_pps is bucket 3: 200 / 2,000 = 0.1 s.
    assert.equal(bytes.readBigUInt64LE(8), 120n);
    assert.equal(bytes.readBigUInt64LE(96 + 8), 100_000_000n);
    assert.equal(toleranceNs({ rate: 10_000, burst: 8_000 }), 800_000_000n);
    assert.deepEqual(qosDrops(bytes), { inbound: 0n, outbound: 0n });
  });

  it('reads a bucket changed by hand as a limit no desired state has', () => {
    const bytes = qosValueBytes(limitsKey(limits));
    bytes.writeBigUInt64LE(1n, 8);
    assert.notEqual(qosValueText(bytes), limitsKey(limits));
    assert.match(qosValueText(bytes), /ingress 100000000\/-1 kbit/);
  });

  it('refuses a rate the map cannot hold, naming it', () => {
    const key = limitsKey([{ direction: 'ingress', unit: 'kbit', rate: 2 ** 32, burst: 12 }]);
    assert.throws(() => qosValueBytes(key), /rate 4294967296 kbit\/s/);
  });

  it('a limit change is one map write, nothing rebuilt', () => {
    const { plan, batch } = planDelta(
      [mapping('10.0.0.11', limits)],
      [mapping('10.0.0.11', limits.slice(1))],
    );
    assert.equal(plan.rebuild, false);
    assert.deepEqual(batch?.qos, { remove: [], set: [['203.0.113.10', limitsKey(limits.slice(1))]] });
    assert.deepEqual(batch?.inbound, { remove: [], set: [] });
    assert.deepEqual(batch?.outbound, { remove: [], set: [] });
  });

  it('a floating IP that moves to another fixed IP keeps its buckets untouched', () => {
    const { batch } = planDelta([mapping('10.0.0.11', limits)], [mapping('10.0.0.12', limits)]);
    assert.deepEqual(batch?.qos, { remove: [], set: [] });
    assert.deepEqual(batch?.inbound.set, [['203.0.113.10', '10.0.0.12']]);
  });

  it('removing the policy deletes the entry; a floating IP without limits gets none', () => {
    const { batch } = planDelta([mapping('10.0.0.11', limits)], [mapping('10.0.0.11')]);
    assert.deepEqual(batch?.qos, { remove: ['203.0.113.10'], set: [] });
    const fresh = planDelta([], [mapping('10.0.0.11')]);
    assert.deepEqual(fresh.batch?.qos, { remove: [], set: [] });
  });
});
