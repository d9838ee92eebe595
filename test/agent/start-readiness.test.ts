/**
 * The agent's start ends when every router has had its first pass, not when the agent is idle: a daemon whose
 * resync rounds take longer than the resync interval, or that takes a steady stream of changes while it starts,
 * is never idle, and would never say it is ready (/readyz waits for start).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  FakeDataplane,
  type BackendPlan,
  type BackendState,
  type DesiredRouter,
  type RouterTarget,
} from '../../src/dataplane/index.js';
import { createFloatingIp, updateFloatingIp } from '../../src/model/index.js';
import { fakeAgent } from '../support/fake-agent.js';
import { smallCloud } from '../support/model-fixture.js';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A kernel whose reads and batches each take longer than the resync interval and the gap between changes below. */
class SlowDataplane extends FakeDataplane {
  override async read(target: RouterTarget, desired?: DesiredRouter): Promise<BackendState> {
    await pause(30);
    return super.read(target, desired);
  }
  override async apply(plan: BackendPlan): Promise<void> {
    await pause(30);
    return super.apply(plan);
  }
}

/** Start, or a clear failure after `ms` (the agent's timers do not hold the process: this wait must). */
async function startWithin(start: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the agent's start had not ended after ${ms} ms`)), ms);
  });
  try {
    await Promise.race([start, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe('agent: start ends after every first pass', () => {
  it('ends while resync rounds, each longer than the interval, keep the agent busy', async () => {
    const c = await smallCloud();
    const fip = await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
    );
    const dp = new SlowDataplane();
    // A resync every 5 ms, a pass of 30 ms or more: the router is marked again before each pass ends.
    const agent = fakeAgent(c.store, dp, { resyncIntervalMs: 5 });
    try {
      await startWithin(agent.start(), 5_000);
      const now = await c.store.read((v) => v.get('floatingip', fip.id)!);
      assert.equal(now.status, 'ACTIVE');
      assert.deepEqual(
        [...dp.routers.get(`qrouter-1/${c.router}`)!.inbound],
        [[fip.floatingIpAddress, '10.0.0.11']],
      );
    } finally {
      await agent.stop();
    }
  });

  it('ends while a change that arrived during the start is still being applied', async () => {
    const c = await smallCloud();
    const fip = await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
    );
    // The first pass's kernel read waits until a change has arrived; every batch after the first pass's waits
    // until the start has ended (or the test gives up): the change is still being applied when the start ends.
    let readable!: () => void;
    const changed = new Promise<void>((resolve) => (readable = resolve));
    let release!: () => void;
    const startEnded = new Promise<void>((resolve) => (release = resolve));
    let applies = 0;
    class HeldDataplane extends FakeDataplane {
      override async read(target: RouterTarget, desired?: DesiredRouter): Promise<BackendState> {
        await changed;
        return super.read(target, desired);
      }
      override async apply(plan: BackendPlan): Promise<void> {
        if (++applies > 1) await startEnded;
        return super.apply(plan);
      }
    }
    const dp = new HeldDataplane();
    const agent = fakeAgent(c.store, dp);
    const started = agent.start();
    await pause(20);
    await c.store.update((tx) => updateFloatingIp(tx, c.ctx, fip.id, { portId: c.vm2 }));
    await pause(20);
    readable();
    try {
      await startWithin(started, 5_000);
      assert.equal(applies, 2, 'the change was being applied when the start ended');
    } finally {
      release();
      await agent.sync();
      await agent.stop();
    }
    const now = await c.store.read((v) => v.get('floatingip', fip.id)!);
    assert.deepEqual([now.portId, now.status], [c.vm2, 'ACTIVE']);
  });

  it('ends when the agent stops before a first pass could end', async () => {
    const c = await smallCloud();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    class HeldDataplane extends FakeDataplane {
      override async read(target: RouterTarget, desired?: DesiredRouter): Promise<BackendState> {
        await held;
        return super.read(target, desired);
      }
    }
    const agent = fakeAgent(c.store, new HeldDataplane());
    const started = agent.start();
    await pause(20);
    const stopped = agent.stop();
    await startWithin(started, 5_000);
    release();
    await stopped;
  });
});
