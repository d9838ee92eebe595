/**
 * A periodic resync checks the kernel against the router layer's record and reads nothing from the store when
 * they agree: the store's changes reach the agent through its feed, and reading 100,000 floating IPs for every
 * resync held the event loop for seconds. Drift still gets a full pass that repairs it, and every tenth resync
 * reads the store anyway, for a change the feed never delivered.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeDataplane } from '../../src/dataplane/index.js';
import type { BackendPlan, BackendState, DesiredRouter, RouterTarget } from '../../src/dataplane/types.js';
import { addRouterInterface, createFloatingIp, createNetwork, createSubnet } from '../../src/model/index.js';
import { smallCloud } from '../support/model-fixture.js';
import { fakeAgent } from '../support/fake-agent.js';

class CountingDataplane extends FakeDataplane {
  applies = 0;
  kernelReads = 0;
  /** While set, every kernel read waits for it: a resync held in its read, as one of 100,000 is for seconds. */
  gate: Promise<void> | undefined;
  /** The next read lacks its first inbound element, as a dump of a set that changed under it may; `flag`: says so. */
  lackNext: { flag: boolean } | undefined;
  override async read(target: RouterTarget, desired?: DesiredRouter): Promise<BackendState> {
    this.kernelReads++;
    await this.gate;
    const state = await super.read(target, desired);
    const lack = this.lackNext;
    this.lackNext = undefined;
    if (!lack) return state;
    const inbound = new Map(state.inbound);
    inbound.delete([...inbound.keys()][0]!);
    return { ...state, inbound, ...(lack.flag && { mayLackElements: true }) };
  }
  override async apply(plan: BackendPlan): Promise<void> {
    this.applies++;
    return super.apply(plan);
  }
}

async function converged() {
  const c = await smallCloud();
  const fip = await c.store.update((tx) =>
    createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
  );
  const dp = new CountingDataplane();
  const agent = fakeAgent(c.store, dp);
  await agent.start();
  const kernel = dp.routers.get(`qrouter-1/${c.router}`)!;
  assert.deepEqual([...kernel.inbound], [[fip.floatingIpAddress, '10.0.0.11']]);
  // Counts the store reads that ask for the router (a full pass's intent), not the agent's listing of routers.
  let intentReads = 0;
  const read = c.store.read.bind(c.store);
  c.store.read = ((fn) =>
    read((view) =>
      fn({
        ...view,
        get: ((kind: string, id: string) => {
          if (kind === 'router' && id === c.router) intentReads++;
          return view.get(kind as 'router', id);
        }) as typeof view.get,
      }),
    )) as typeof c.store.read;
  const resync = async () => {
    const before = { applies: dp.applies, reads: dp.kernelReads, intentReads };
    agent.resyncAll('resync');
    await agent.sync();
    return {
      applies: dp.applies - before.applies,
      reads: dp.kernelReads - before.reads,
      intentReads: intentReads - before.intentReads,
    };
  };
  return { c, fip, dp, agent, kernel, resync };
}

describe('agent: a periodic resync checks the kernel against its record', () => {
  it('reads only the kernel, and applies nothing, when the kernel holds what was recorded', async () => {
    const s = await converged();
    try {
      assert.deepEqual(await s.resync(), { applies: 0, reads: 1, intentReads: 0 });
      assert.deepEqual(await s.resync(), { applies: 0, reads: 1, intentReads: 0 });
    } finally {
      await s.agent.stop();
    }
  });

  it('repairs drift with a full pass that reads the store and the kernel', async () => {
    const s = await converged();
    try {
      s.kernel.inbound.clear();
      const pass = await s.resync();
      assert.equal(pass.applies, 1);
      assert.equal(pass.intentReads >= 1, true, 'the full pass read the store');
      assert.deepEqual([...s.kernel.inbound], [[s.fip.floatingIpAddress, '10.0.0.11']]);
    } finally {
      await s.agent.stop();
    }
  });

  it('takes a read that may lack elements (deltas overlapped it) and lacks one for no drift', async () => {
    const s = await converged();
    try {
      s.dp.lackNext = { flag: true };
      assert.deepEqual(await s.resync(), { applies: 0, reads: 1, intentReads: 0 });
      // The same read from a backend whose reads are snapshots is drift: repaired by a full pass.
      s.dp.lackNext = { flag: false };
      const pass = await s.resync();
      assert.equal(pass.intentReads >= 1, true, 'a full pass read the store');
      assert.equal(pass.reads, 2, 'the check, then the full pass, read the kernel');
    } finally {
      await s.agent.stop();
    }
  });

  it('reads the store on every tenth resync, as a safety net for a change the feed never delivered', async () => {
    const s = await converged();
    try {
      const passes = [];
      for (let i = 0; i < 20; i++) passes.push(await s.resync());
      const storeReads = passes.flatMap((p, i) => (p.intentReads > 0 ? [i + 1] : []));
      assert.deepEqual(storeReads, [10, 20]);
      assert.deepEqual(
        passes.filter((p) => p.intentReads > 0).map((p) => p.reads),
        [1, 1],
        'those resyncs are full passes, with a kernel read of their own',
      );
    } finally {
      await s.agent.stop();
    }
  });

  it('after a rebuild that only a read can confirm (eBPF), reads the kernel once, and the next change is a delta', async () => {
    const c = await smallCloud();
    await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
    );
    const dp = new CountingDataplane();
    // As eBPF: the backend cannot tell its state after a rebuild (generations, program ids) without a read.
    (dp as { stateAfterRebuild?: unknown }).stateAfterRebuild = undefined;
    const agent = fakeAgent(c.store, dp);
    try {
      await agent.start();
      await agent.sync();
      const reads = dp.kernelReads;
      const applies = dp.applies;
      const causes: string[] = [];
      agent.on('reconciled', (o: { cause: string }) => causes.push(o.cause));
      const fip = await c.store.update((tx) =>
        createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm2 }),
      );
      await agent.sync();
      assert.deepEqual(causes, ['floatingip-changed']);
      assert.equal(dp.kernelReads, reads, 'the change was planned from the record, without a kernel read');
      assert.equal(dp.applies, applies + 1);
      const kernel = dp.routers.get(`qrouter-1/${c.router}`)!;
      assert.equal(kernel.inbound.get(fip.floatingIpAddress), '10.0.0.12');
    } finally {
      await agent.stop();
    }
  });
});

/**
 * A store change that arrives while a periodic resync is queued behind a running pass must not be merged into
 * that resync: the resync may only compare the kernel with the record, and the change would wait for the tenth
 * resync (the conformance suite caught a new floating IP left DOWN this way, with a 400 ms resync interval).
 */
describe('agent: a store change never waits behind a queued resync', () => {
  async function resyncQueuedBehindARead() {
    const s = await converged();
    let release!: () => void;
    s.dp.gate = new Promise<void>((resolve) => (release = resolve));
    const readsBefore = s.dp.kernelReads;
    s.agent.resyncAll('resync');
    while (s.dp.kernelReads === readsBefore) await new Promise((r) => setImmediate(r));
    // The router is in its resync's kernel read; the next resync queues behind it.
    s.agent.resyncAll('resync');
    // Reads the change feed now (the fake agent does not poll it), marking what the change touched.
    const readFeed = () => s.agent['pump']();
    const finish = async () => {
      s.dp.gate = undefined;
      release();
      await s.agent.sync();
    };
    return { ...s, readFeed, finish };
  }

  it('applies a floating IP created meanwhile', async () => {
    const s = await resyncQueuedBehindARead();
    try {
      const fip2 = await s.c.store.update((tx) =>
        createFloatingIp(tx, s.c.ctx, { floatingNetworkId: s.c.publicNet, portId: s.c.vm2 }),
      );
      await s.readFeed();
      await s.finish();
      assert.deepEqual(
        [...s.kernel.inbound].sort(),
        [
          [s.fip.floatingIpAddress, '10.0.0.11'],
          [fip2.floatingIpAddress, '10.0.0.12'],
        ].sort(),
      );
      // And the resync still happens after it: drift made meanwhile is repaired.
      s.kernel.inbound.delete(fip2.floatingIpAddress);
      await s.resync();
      assert.equal(s.kernel.inbound.get(fip2.floatingIpAddress), '10.0.0.12');
    } finally {
      await s.agent.stop();
    }
  });

  it('applies a router change made meanwhile (an interface on a new subnet)', async () => {
    const s = await resyncQueuedBehindARead();
    try {
      await s.c.store.update((tx) => {
        const net = createNetwork(tx, s.c.ctx, { name: 'second' });
        const subnet = createSubnet(tx, s.c.ctx, { networkId: net.id, cidr: '10.1.0.0/24' });
        addRouterInterface(tx, s.c.ctx, s.c.router, { subnetId: subnet.id });
      });
      await s.readFeed();
      await s.finish();
      assert.match(s.kernel.structure, /10\.1\.0\.0\/24/, 'the new interface subnet is in the router');
    } finally {
      await s.agent.stop();
    }
  });
});
