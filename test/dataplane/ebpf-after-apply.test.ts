/**
 * The eBPF backend's record after a rebuild (after-apply.ts): what the router layer records once an apply went in
 * must be what a read of the kernel then finds, field for field, for a first build on an empty namespace, a swap to
 * a bigger generation, a change of config and subnets without a build, port forwardings, and a device carrying
 * somebody else's tc filter. Real namespace, real loader and pins (a pin root of this test's own).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { RouterDataplane, WITHOUT_CHORES } from '../../src/dataplane/index.js';
import { stateAfterApply, type AppliedGeneration } from '../../src/dataplane/ebpf/after-apply.js';
import { EbpfDataplane } from '../../src/dataplane/ebpf/index.js';
import { PIN_ROOT } from '../../src/dataplane/ebpf/layout.js';
import { BPF_LOAD_HELPER } from '../../src/dataplane/ebpf/loader.js';
import type { EbpfActualRouter } from '../../src/dataplane/ebpf/state.js';
import type { DesiredRouter, FloatingMapping } from '../../src/dataplane/types.js';
import { run } from '../../src/exec/run.js';
import { parseIPv4 } from '../../src/model/index.js';

const tag = `tba${process.pid % 100000}`;
const pinRoot = `${PIN_ROOT}-${tag}`;
const namespace = `${tag}r`;
const ip = parseIPv4;

/** `count` mappings, each floating IP from 198.18.0.0/15 (benchmarking range) so that thousands fit. */
const many = (count: number): FloatingMapping[] =>
  Array.from({ length: count }, (_, i) => ({
    floatingIp: ip(`198.18.${Math.floor(i / 250)}.${(i % 250) + 1}`),
    fixedIp: ip(`10.0.${Math.floor(i / 250)}.${(i % 250) + 2}`),
    fixedMac: `02:00:00:00:${(Math.floor(i / 250) % 256).toString(16).padStart(2, '0')}:${(i % 250).toString(16).padStart(2, '0')}`,
  }));

const base: DesiredRouter = {
  routerId: randomUUID(),
  namespace,
  gatewayDevice: 'qg-t',
  gatewayIp: ip('203.0.113.2'),
  internalCidrs: ['10.0.0.0/16'],
  mappings: many(3),
};

describe(
  'eBPF: the record after a rebuild is what a read finds',
  { skip: !existsSync(BPF_LOAD_HELPER) && 'sfip-bpf-load is not built', timeout: 120_000 },
  () => {
    const backend = new EbpfDataplane(undefined, { pinRoot, minCapacity: 1024 });
    const layer = new RouterDataplane(backend, WITHOUT_CHORES);

    before(async () => {
      await run('ip', ['netns', 'add', namespace]);
      const ipn = (...args: string[]) => run('ip', ['-n', namespace, ...args]);
      await ipn('link', 'set', 'lo', 'up');
      await ipn('link', 'add', 'qg-t', 'type', 'veth', 'peer', 'name', 'ext-t');
      await ipn('link', 'add', 'qr-t', 'type', 'veth', 'peer', 'name', 'int-t');
      await ipn('link', 'add', 'other-t', 'type', 'veth', 'peer', 'name', 'oth-t');
      for (const d of ['qg-t', 'ext-t', 'qr-t', 'int-t', 'other-t', 'oth-t'])
        await ipn('link', 'set', d, 'up');
      await ipn('addr', 'add', '203.0.113.2/24', 'dev', 'qg-t');
      await ipn('addr', 'add', '10.0.0.1/16', 'dev', 'qr-t');
      await ipn('addr', 'add', '10.1.0.1/24', 'dev', 'other-t');
    });
    after(async () => {
      await layer.remove(base).catch(() => undefined);
      await run('ip', ['netns', 'del', namespace]).catch(() => undefined);
      rmSync(pinRoot, { recursive: true, force: true });
    });

    /** Applies `desired` as the agent's full pass does, then compares the record with a read of the kernel. */
    async function applyAndCompare(desired: DesiredRouter, what: string) {
      const plan = await layer.reconcile(desired);
      assert.notEqual(plan.batch, null, `${what}: the case changes the kernel`);
      assert.ok(plan.rebuild || what === 'port forwarding', `${what}: the case rebuilds`);
      const recorded = layer.recorded(desired);
      assert.ok(recorded, `${what}: the record is trusted without a read`);
      assert.equal(layer.awaitsReadToTrust(desired), false);
      const read = await layer.read(desired);
      assert.deepEqual(recorded, read, `${what}: the record is what the kernel holds`);
      assert.equal(layer.plan(desired, read).batch, null, `${what}: a read finds nothing to do`);
    }

    it('after a first build on an empty namespace', async () => {
      await applyAndCompare(base, 'first build');
    });

    it('after a swap to a bigger generation', async () => {
      await applyAndCompare({ ...base, mappings: many(2000) }, 'swap');
    });

    it('after a change of config and subnets without a build, and with port forwardings', async () => {
      const changed: DesiredRouter = {
        ...base,
        mappings: many(2000),
        antiSpoofing: false,
        internalCidrs: ['10.0.0.0/16', '10.1.0.0/24'],
      };
      await applyAndCompare(changed, 'config and subnets');
      await applyAndCompare(
        {
          ...changed,
          forwardings: [
            {
              floatingIp: ip('203.0.113.7'),
              protocol: 'tcp',
              fixedIp: ip('10.0.0.9'),
              externalPortStart: 8080,
              externalPortEnd: 8080,
              internalPortStart: 80,
              internalPortEnd: 80,
            },
          ],
        },
        'port forwarding',
      );
    });

    it("beside somebody else's filter on an internal device", async () => {
      const foreign = 'filter add dev qr-t ingress prio 7 u32 match u32 0 0 classid 1:1';
      await run('tc', ['-n', namespace, ...foreign.split(' ')]);
      // A change of subnets moves other-t out: its filters go, qr-t keeps its own and the foreign one.
      await applyAndCompare(
        { ...base, mappings: many(2000), internalCidrs: ['10.0.0.0/16'] },
        'foreign filter',
      );
    });
  },
);

describe('eBPF: the state after an apply vouches only for what the kernel confirmed', () => {
  const before = {
    present: false,
    structureMatches: false,
    inbound: new Map(),
    outbound: new Map(),
    ebpf: {
      generations: [],
      live: null,
      nftSignature: null,
      hooks: [{ device: 'qg-t', hasClsact: false, attachments: [], foreignFilters: 0 }],
      internalDevices: [],
      internalNets: [],
    },
  } as unknown as EbpfActualRouter;
  const applied: AppliedGeneration = {
    name: 'g',
    batch: { build: true, capacity: 1024, config: null, nft: null },
    programIds: () => ({ gw_ingress: 1, gw_egress: 2, int_ingress: 3, int_egress: 4 }),
    attachmentsConfirmed: true,
  };
  const settings = { capacity: 1024, minCapacity: 1024, untrackMark: 1, hairpinMark: 2, routerDir: '/x' };

  it('answers only when the filters were confirmed and every program has an id', () => {
    assert.ok(stateAfterApply(before, base, applied, settings));
    assert.equal(
      stateAfterApply(before, base, { ...applied, attachmentsConfirmed: false }, settings),
      undefined,
    );
    assert.equal(
      stateAfterApply(
        before,
        base,
        { ...applied, programIds: () => ({ gw_ingress: 1, gw_egress: 2 }) },
        settings,
      ),
      undefined,
    );
  });

  it('never for a device the read did not see', () => {
    assert.equal(
      stateAfterApply(before, { ...base, gatewayDevice: 'qg-gone' }, applied, settings),
      undefined,
    );
  });
});
