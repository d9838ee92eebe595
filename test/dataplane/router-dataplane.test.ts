/**
 * The router layer around every backend: the backend's batch first, then floating addresses; the record of what
 * the kernel holds (trusted only while nothing but mappings changed); deltas planned from that record narrowed to
 * the changed addresses; drift told from it. Runs on the in-memory dataplane, which keeps its addresses through
 * the same seam as the kernel's.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeDataplane, RouterDataplane, WITHOUT_CHORES } from '../../src/dataplane/index.js';
import { NetnsChannels } from '../../src/dataplane/common/netns-channels.js';
import type { BackendPlan, DesiredRouter, FloatingMapping } from '../../src/dataplane/types.js';
import { parseIPv4 } from '../../src/model/index.js';

const ip = parseIPv4;
const map = (floating: string, fixed: string): FloatingMapping => ({
  floatingIp: ip(floating),
  fixedIp: ip(fixed),
});
const router = (mappings: FloatingMapping[], extra: Partial<DesiredRouter> = {}): DesiredRouter => ({
  routerId: 'r1',
  namespace: 'qrouter-1',
  gatewayDevice: 'qg-r1',
  gatewayIp: ip('203.0.113.2'),
  internalCidrs: ['10.0.0.0/24'],
  mappings,
  ...extra,
});

/** The fake, with every batch and address change logged in the order they happened. */
function logged(): { dp: FakeDataplane; events: string[] } {
  const dp = new FakeDataplane();
  const events: string[] = [];
  const apply = dp.apply.bind(dp);
  dp.apply = async (plan: BackendPlan) => {
    events.push(`batch +${plan.added.length} -${plan.removed.length}`);
    await apply(plan);
  };
  const change = dp.gatewayAddresses.change;
  Object.defineProperty(dp, 'gatewayAddresses', {
    value: {
      read: dp.gatewayAddresses.read,
      change: async (target: DesiredRouter, add: readonly string[], remove: readonly string[]) => {
        events.push(`addresses +${add.join(',')} -${remove.join(',')}`);
        await change(target, add as never, remove);
      },
    },
  });
  return { dp, events };
}

describe('RouterDataplane', () => {
  it('plans every floating address (mappings and forwardings), and applies the batch before the addresses', async () => {
    const { dp, events } = logged();
    const layer = new RouterDataplane(dp, WITHOUT_CHORES);
    const forwarding = {
      floatingIp: ip('203.0.113.30'),
      protocol: 'tcp' as const,
      fixedIp: ip('10.0.0.12'),
      externalPortStart: 2222,
      externalPortEnd: 2222,
      internalPortStart: 22,
      internalPortEnd: 22,
    };
    const first = router([map('203.0.113.10', '10.0.0.11')], { forwardings: [forwarding] });
    const plan = await layer.reconcile(first);
    assert.deepEqual([...plan.addAddresses].sort(), ['203.0.113.10', '203.0.113.30']);
    assert.deepEqual(events, ['batch +1 -0', 'addresses +203.0.113.10,203.0.113.30 -']);

    const second = router([map('203.0.113.11', '10.0.0.11')]);
    const next = layer.plan(second, await layer.read(second));
    assert.deepEqual(next.addAddresses, ['203.0.113.11']);
    assert.deepEqual(next.removeAddresses, ['203.0.113.10', '203.0.113.30']);
  });

  it('keeps a record after an apply, and drops it on a change of structure or a failed apply', async () => {
    const dp = new FakeDataplane();
    const layer = new RouterDataplane(dp, WITHOUT_CHORES);
    const desired = router([map('203.0.113.10', '10.0.0.11')]);
    await layer.reconcile(desired);
    const recorded = layer.recorded(desired);
    assert.deepEqual([...(recorded?.inbound ?? [])], [['203.0.113.10', '10.0.0.11']]);
    assert.deepEqual([...(recorded?.addresses ?? [])], ['203.0.113.10']);
    assert.equal(
      layer.recorded({ ...desired, gatewayIp: ip('203.0.113.3') }),
      undefined,
      'structure changed',
    );

    const more = router([...desired.mappings, map('203.0.113.11', '10.0.0.12')]);
    dp.failNextApply = new Error('kernel said no');
    const actual = layer.recorded(desired)!;
    await assert.rejects(layer.apply(layer.plan(more, actual), more, actual), /kernel said no/);
    assert.equal(layer.recorded(more), undefined, 'after a failure the next pass reads');
  });

  it('plans a delta from the record narrowed to the changed addresses, and brings the record forward', async () => {
    const dp = new FakeDataplane();
    const layer = new RouterDataplane(dp, WITHOUT_CHORES);
    const a = map('203.0.113.10', '10.0.0.11');
    const b = map('203.0.113.11', '10.0.0.12');
    const desired = router([a, b]);
    await layer.reconcile(desired);
    const moved = map('203.0.113.11', '10.0.0.13');
    const change = { added: [moved], removed: [b] };
    const plan = layer.planDelta(desired, change, 2)!;
    assert.deepEqual(
      [plan.added, plan.removed].map((ms) => ms.map((m) => `${m.floatingIp}>${m.fixedIp}`)),
      [['203.0.113.11>10.0.0.13'], ['203.0.113.11>10.0.0.12']],
    );
    assert.deepEqual([plan.addAddresses, plan.removeAddresses], [[], []], 'a move keeps its address');
    await layer.applyDelta(plan, desired, change);
    assert.deepEqual([...layer.recorded(desired)!.inbound].sort(), [
      ['203.0.113.10', '10.0.0.11'],
      ['203.0.113.11', '10.0.0.13'],
    ]);
    assert.deepEqual([...dp.routers.get('qrouter-1/r1')!.inbound].sort(), [
      ['203.0.113.10', '10.0.0.11'],
      ['203.0.113.11', '10.0.0.13'],
    ]);

    const gone = { added: [], removed: [a] };
    const removal = layer.planDelta(desired, gone, 1)!;
    assert.deepEqual(removal.removeAddresses, ['203.0.113.10']);
    await layer.applyDelta(removal, desired, gone);
    assert.deepEqual([...dp.routers.get('qrouter-1/r1')!.addresses], ['203.0.113.11']);
  });

  it('tells drift from the record: an address taken away behind its back', async () => {
    const dp = new FakeDataplane();
    const layer = new RouterDataplane(dp, WITHOUT_CHORES);
    const desired = router([map('203.0.113.10', '10.0.0.11')]);
    await layer.reconcile(desired);
    assert.equal(layer.differsFromRecord(desired, await layer.read(desired)), false);
    dp.routers.get('qrouter-1/r1')!.addresses.clear();
    const read = await layer.read(desired);
    assert.equal(layer.differsFromRecord(desired, read), true);
    assert.deepEqual(layer.plan(desired, read).addAddresses, ['203.0.113.10']);
  });

  it('never plans from a record for a backend that must read before every plan (tc)', async () => {
    const dp = new FakeDataplane();
    Object.defineProperty(dp, 'readsEveryPass', { value: true });
    const layer = new RouterDataplane(dp, WITHOUT_CHORES);
    const desired = router([map('203.0.113.10', '10.0.0.11')]);
    await layer.reconcile(desired);
    assert.equal(layer.recorded(desired), undefined);
    assert.equal(layer.planDelta(desired, { added: [], removed: desired.mappings }, 0), undefined);
    dp.routers.get('qrouter-1/r1')!.inbound.clear();
    assert.equal(layer.differsFromRecord(desired, await layer.read(desired)), true, 'drift is still told');
  });

  it('passes on a backend that wants a full pass for a delta (eBPF maps the change outgrows)', async () => {
    const dp = new FakeDataplane();
    Object.defineProperty(dp, 'planDelta', { value: () => undefined });
    const layer = new RouterDataplane(dp, WITHOUT_CHORES);
    const desired = router([map('203.0.113.10', '10.0.0.11')]);
    await layer.reconcile(desired);
    assert.equal(
      layer.planDelta(desired, { added: [map('203.0.113.11', '10.0.0.12')], removed: [] }, 2),
      undefined,
    );
    assert.notEqual(layer.recorded(desired), undefined, 'the record stands: nothing was applied');
  });

  it('removes the backend objects, then the floating addresses', async () => {
    const { dp, events } = logged();
    const layer = new RouterDataplane(dp, WITHOUT_CHORES);
    const desired = router([map('203.0.113.10', '10.0.0.11')]);
    await layer.reconcile(desired);
    events.length = 0;
    await layer.remove(desired);
    assert.deepEqual(events, ['addresses + -203.0.113.10']);
    assert.equal(dp.routers.has('qrouter-1/r1'), false, 'nothing left');
    assert.equal(layer.recorded(desired), undefined);
  });
});

describe('RouterDataplane: warming the namespace channel', () => {
  /** A backend that stands for a kernel one (the fake declares itself kernel-less, which skips warming). */
  class KernelLike extends FakeDataplane {
    override readonly withoutKernel: boolean = false;
  }
  /** Channels that only record which namespaces were warmed. */
  class WarmLog extends NetnsChannels {
    readonly warmed: (string | null)[] = [];
    override warm(namespace: string | null): void {
      this.warmed.push(namespace);
    }
  }

  it('starts the namespace channel at a read and after a whole-router apply when asked, never for a delta', async () => {
    const channels = new WarmLog();
    /** How many warms the backend's apply found done: the read's must come first. */
    let warmedAtApply = -1;
    class ApplyWatch extends KernelLike {
      override async apply(plan: Parameters<FakeDataplane['apply']>[0]): Promise<void> {
        warmedAtApply = channels.warmed.length;
        await super.apply(plan);
      }
    }
    const layer = new RouterDataplane(new ApplyWatch(), {
      garp: null,
      conntrackCleanup: false,
      channels,
      warmChannels: true,
    });
    const desired = router([map('203.0.113.10', '10.0.0.10')]);
    await layer.reconcile(desired);
    // The read's, so that the apply's conntrack cleanup finds the channel settled; then the apply's (a no-op on a
    // channel that runs).
    assert.equal(warmedAtApply, 1, 'warmed by the read, before the apply');
    assert.deepEqual(channels.warmed, ['qrouter-1', 'qrouter-1'], 'and after the full apply');
    const change = { added: [map('203.0.113.11', '10.0.0.11')], removed: [] };
    const plan = layer.planDelta(desired, change, 2);
    assert.ok(plan, 'the record is trusted: a delta');
    await layer.applyDelta(plan, desired, change);
    assert.deepEqual(
      channels.warmed,
      ['qrouter-1', 'qrouter-1'],
      'a delta uses the channel; it warms nothing',
    );
  });

  it('warms nothing unless asked (tools and tests that drive a router by hand)', async () => {
    const channels = new WarmLog();
    const layer = new RouterDataplane(new KernelLike(), { garp: null, conntrackCleanup: false, channels });
    await layer.reconcile(router([map('203.0.113.10', '10.0.0.10')]));
    assert.deepEqual(channels.warmed, []);
  });
});

describe('RouterDataplane: a read of a router whose gateway is missing', () => {
  it("reports the address read's error, which names the gateway, over the backend's", async () => {
    class BothFail extends FakeDataplane {
      override async read(): Promise<never> {
        throw new Error('nft: Cannot find device');
      }
    }
    const backend = new BothFail();
    const gatewayAddresses = {
      ...backend.gatewayAddresses,
      read: () => Promise.reject(new Error('gateway device qg-x does not exist in namespace qrouter-1')),
    };
    Object.defineProperty(backend, 'gatewayAddresses', { value: gatewayAddresses });
    const layer = new RouterDataplane(backend, WITHOUT_CHORES);
    await assert.rejects(layer.read(router([])), /^Error: gateway device qg-x does not exist/);
  });
});

describe('RouterDataplane: preparing while the batch goes in', () => {
  /** A fake whose batch waits for `open()` (the element loader's seconds in the kernel), logging what happens. */
  function gated(): { dp: FakeDataplane; events: string[]; open: () => void } {
    const events: string[] = [];
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    class Gated extends FakeDataplane {
      override async apply(plan: BackendPlan): Promise<void> {
        events.push('batch started');
        await gate;
        await super.apply(plan);
        events.push('batch in');
      }
    }
    const dp = new Gated();
    const addresses = dp.gatewayAddresses;
    Object.defineProperty(dp, 'gatewayAddresses', {
      value: {
        read: addresses.read,
        change: addresses.change,
        prepare: async (target: DesiredRouter, add: readonly string[], remove: readonly string[]) => {
          events.push(`addresses prepared +${add.join(',')}`);
          return async () => {
            events.push('addresses sent');
            await addresses.change(target, add as never, remove);
          };
        },
      },
    });
    return { dp, events, open };
  }

  it("prepares the addresses and the caller's records before the batch is in, and sends the addresses after", async () => {
    const { dp, events, open } = gated();
    const layer = new RouterDataplane(dp, WITHOUT_CHORES);
    const desired = router([map('203.0.113.10', '10.0.0.11')]);
    const actual = await layer.read(desired);
    let prepared = false;
    const applying = layer.apply(layer.plan(desired, actual), desired, actual, () => {
      events.push('meanwhile');
      prepared = true;
    });
    // Turns of the loop until the preparation is done: the batch is still waiting at its gate.
    for (let i = 0; i < 20 && !prepared; i++) await new Promise((resolve) => setImmediate(resolve));
    assert.ok(prepared, 'the caller prepared while the batch was going in');
    assert.deepEqual(events, ['batch started', 'addresses prepared +203.0.113.10', 'meanwhile']);
    assert.equal(dp.addressChanges.length, 0, 'no address before the batch is in');
    open();
    await applying;
    assert.deepEqual(events.slice(3), ['batch in', 'addresses sent']);
    assert.deepEqual([...dp.routers.get('qrouter-1/r1')!.addresses], ['203.0.113.10']);
    assert.deepEqual([...(layer.recorded(desired)?.inbound ?? [])], [['203.0.113.10', '10.0.0.11']]);
  });

  it('sends no address and keeps no record when the batch fails during the preparation, which the error names', async () => {
    const { dp, events, open } = gated();
    const layer = new RouterDataplane(dp, WITHOUT_CHORES);
    const desired = router([map('203.0.113.10', '10.0.0.11')]);
    const actual = await layer.read(desired);
    dp.failNextApply = new Error('kernel said no');
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const applying = layer.apply(layer.plan(desired, actual), desired, actual, async () => {
        // The batch fails while the caller still prepares, across turns of the loop.
        open();
        for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
        events.push('meanwhile done');
      });
      await assert.rejects(applying, /kernel said no/);
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    assert.deepEqual(unhandled, [], 'the failed batch was handled while the preparation ran');
    assert.ok(!events.includes('addresses sent'));
    assert.equal(dp.addressChanges.length, 0);
    assert.equal(layer.recorded(desired), undefined, 'the next pass reads');
  });

  it('waits for the batch before reporting a preparation that failed, and sends no address', async () => {
    const { dp, events, open } = gated();
    const layer = new RouterDataplane(dp, WITHOUT_CHORES);
    const desired = router([map('203.0.113.10', '10.0.0.11')]);
    const actual = await layer.read(desired);
    const applying = layer.apply(layer.plan(desired, actual), desired, actual, () => {
      throw new Error('preparation failed');
    });
    let settled = false;
    void applying.catch(() => (settled = true));
    for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(settled, false, 'not while the batch is still going in');
    open();
    await assert.rejects(applying, /preparation failed/);
    assert.deepEqual(events, ['batch started', 'addresses prepared +203.0.113.10', 'batch in']);
    assert.equal(dp.addressChanges.length, 0);
    assert.equal(layer.recorded(desired), undefined);
  });
});
