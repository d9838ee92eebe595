/**
 * When a floating IP change starts its router's pass: the first change after a quiet spell at once, without
 * waiting for the coalescing window (an association waits for nothing it does not need).
 */
import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { FakeDataplane } from '../../src/dataplane/index.js';
import { createFloatingIp } from '../../src/model/index.js';
import { smallCloud } from '../support/model-fixture.js';
import { fakeAgent } from '../support/fake-agent.js';

/** Turns of the event loop (never a timer, which the test holds still) until `done`, or fails. */
async function turnsUntil(done: () => boolean, what: string): Promise<void> {
  for (let turn = 0; turn < 10_000 && !done(); turn++) await new Promise((r) => setImmediate(r));
  assert.ok(done(), what);
}

describe('agent: coalescing floating IP changes', () => {
  it('starts the pass for the first change after a quiet spell without waiting for a timer', async () => {
    const c = await smallCloud();
    const dp = new FakeDataplane();
    const agent = fakeAgent(c.store, dp);
    await agent.start();
    await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
    );
    await agent.sync(); // the router's first pass is full; later ones are deltas
    // Longer than the coalescing window (2 ms) since the last batch: this change comes after a quiet spell.
    await new Promise((r) => setTimeout(r, 20));
    const applies = dp.applied.length;
    // No timer fires from here on: a pass that waited for one would never start.
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const second = await c.store.update((tx) =>
        createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm2 }),
      );
      await turnsUntil(() => dp.applied.length > applies, 'the delta started without a timer');
      assert.deepEqual(
        dp.applied.at(-1)!.added.map((m) => m.floatingIp),
        [second.floatingIpAddress],
      );
    } finally {
      // The timers held meanwhile (the status writer's window) run now, so that the pass ends and the agent stops.
      mock.timers.runAll();
      mock.timers.reset();
      await agent.stop();
      await c.store.close();
    }
  });
});
