/**
 * A full pass at 100,000 floating IPs is seconds of CPU in a few synchronous stretches (the store's intent, the
 * kernel's read, the plan, the records). The event loop must get a turn between them: otherwise every delta of
 * every other router, and the API call that made it, waits for the whole pass (issue 15's associate → traffic tail).
 * Told without timing: a callback queued with setImmediate at each step must run before the next step.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeDataplane, type Plan } from '../../src/dataplane/index.js';
import type { BackendPlan, BackendState, DesiredRouter, RouterTarget } from '../../src/dataplane/types.js';
import { createFloatingIp } from '../../src/model/index.js';
import { smallCloud } from '../support/model-fixture.js';
import { fakeAgent } from '../support/fake-agent.js';

/** Records each step of a pass, and queues a 'turn' behind it that runs once the event loop gets control. */
class StepRecorder extends FakeDataplane {
  readonly steps: string[] = [];
  recording = false;

  private step(name: string): void {
    if (!this.recording) return;
    this.steps.push(name);
    setImmediate(() => this.steps.push('turn'));
  }

  override async read(target: RouterTarget, desired?: DesiredRouter): Promise<BackendState> {
    this.step('kernel read');
    return super.read(target, desired);
  }

  override plan(desired: DesiredRouter, actual: BackendState): BackendPlan {
    this.step('plan');
    return super.plan(desired, actual);
  }

  override async apply(plan: Plan): Promise<void> {
    this.step('apply');
    return super.apply(plan);
  }
}

describe('full pass: the event loop gets turns between its stretches', () => {
  it('lets queued work run after the store read, the kernel read, the plan and the apply', async () => {
    const c = await smallCloud();
    await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
    );
    const dp = new StepRecorder();
    const agent = fakeAgent(c.store, dp);
    await agent.start();
    // Drift, so that the resync has something to apply.
    const kernel = [...dp.routers.values()][0]!;
    assert.equal(kernel.inbound.size, 1, 'the floating IP was programmed');
    kernel.inbound.clear();

    // The store's intent read is the pass's first step: record it through the store.
    const read = c.store.read.bind(c.store);
    let intentReads = 0;
    c.store.read = ((fn) => {
      const result = read(fn);
      if (dp.recording && intentReads++ === 0) {
        dp.steps.push('store read');
        setImmediate(() => dp.steps.push('turn'));
      }
      return result;
    }) as typeof c.store.read;

    dp.recording = true;
    // A cause that reads the store and the kernel: a periodic resync first checks the kernel alone
    // (test/agent/resync-from-record.test.ts).
    agent.resyncAll('feed-truncated');
    await agent.sync();
    dp.recording = false;
    await agent.stop();

    assert.equal(kernel.inbound.size, 1, 'the resync repaired the drift');
    const work = dp.steps.filter((s) => s !== 'turn');
    assert.deepEqual(work, ['store read', 'kernel read', 'plan', 'apply'], 'one full pass');
    // Each step is followed by its turn before the next step starts.
    assert.deepEqual(
      dp.steps.slice(0, 8),
      ['store read', 'turn', 'kernel read', 'turn', 'plan', 'turn', 'apply', 'turn'],
      `steps: ${dp.steps.join(', ')}`,
    );
  });
});
