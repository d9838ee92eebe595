/**
 * A router whose pass failed is tried again after a backoff, with no change and no resync needed: a transient
 * failure heals by itself, a lasting one is retried at a growing interval, never in a hot loop.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import pino from 'pino';
import { retryDelayMs, type ReconcileOutcome } from '../../src/agent/index.js';
import { FakeDataplane } from '../../src/dataplane/index.js';
import { createFloatingIp } from '../../src/model/index.js';
import { fakeAgent } from '../support/fake-agent.js';
import { smallCloud } from '../support/model-fixture.js';

/** The agent's timers do not hold the process (a daemon has its server for that): this test's wait must. */
async function held<T>(wait: Promise<T>): Promise<T> {
  const hold = setInterval(() => undefined, 1_000);
  try {
    return await wait;
  } finally {
    clearInterval(hold);
  }
}

describe('agent: retry of failed passes', () => {
  it('waits 1 s after the first failure, doubling, at most 30 s', () => {
    assert.deepEqual(
      [1, 2, 3, 5, 6, 7, 20].map((n) => retryDelayMs(n)),
      [1_000, 2_000, 4_000, 16_000, 30_000, 30_000, 30_000],
    );
    assert.deepEqual(
      [1, 2, 3].map((n) => retryDelayMs(n, 20)),
      [20, 40, 80],
    );
  });

  it('tries a failed router again by itself, and reports ACTIVE once the kernel takes it', async () => {
    const c = await smallCloud();
    const dp = new FakeDataplane();
    // No resync and no feed poll during the test (fakeAgent's defaults): only the retry can heal the router.
    const agent = fakeAgent(c.store, dp, { retryFirstMs: 20 });
    await agent.start();
    // The delta, then the full pass it falls back to.
    dp.failNextApply = new Error('nft: Could not process rule: Device or resource busy');
    dp.failApplies = 2;
    const fip = await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
    );
    await agent.sync();
    const failed = await c.store.read((v) => v.get('floatingip', fip.id)!);
    assert.equal(failed.status, 'ERROR');
    const causes: string[] = [];
    for (;;) {
      const [outcome] = (await held(once(agent, 'reconciled', { signal: AbortSignal.timeout(10_000) }))) as [
        ReconcileOutcome,
      ];
      causes.push(outcome.cause);
      if (!outcome.error) break;
    }
    assert.equal(causes.at(-1), 'retry');
    await agent.sync();
    const healed = await c.store.read((v) => v.get('floatingip', fip.id)!);
    assert.deepEqual([healed.status, healed.statusReason], ['ACTIVE', '']);
    assert.deepEqual(
      [...dp.routers.get(`qrouter-1/${c.router}`)!.inbound],
      [[fip.floatingIpAddress, '10.0.0.11']],
    );
    await agent.stop();
  });

  it('keeps retrying a lasting failure at a growing interval, and stops retrying when the agent stops', async () => {
    const c = await smallCloud();
    const dp = new FakeDataplane();
    dp.missingNamespaces.add('qrouter-1');
    // The intervals come from the agent's own log of each retry it schedules: measured gaps between passes
    // would also count how late a loaded machine fires a timer.
    const scheduled: { router: string; attempt: number; retryInMs: number }[] = [];
    const log = pino(
      { level: 'info' },
      {
        write: (line: string) => {
          const entry = JSON.parse(line) as {
            msg: string;
            router: string;
            attempt: number;
            retryInMs: number;
          };
          if (entry.msg === 'router will be tried again') scheduled.push(entry);
        },
      },
    );
    const agent = fakeAgent(c.store, dp, { retryFirstMs: 20, log });
    const failures: string[] = [];
    agent.on('reconciled', (o: ReconcileOutcome) => {
      if (o.error) failures.push(o.cause);
    });
    await agent.start();
    await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
    );
    await agent.sync();
    // From here on nothing but the retries marks the router.
    const from = failures.length;
    while (failures.length < from + 4)
      await held(once(agent, 'reconciled', { signal: AbortSignal.timeout(10_000) }));
    assert.deepEqual(failures.slice(from, from + 4), ['retry', 'retry', 'retry', 'retry']);
    const delays = scheduled.filter((s) => s.router === c.router).map((s) => s.retryInMs);
    assert.deepEqual(
      delays.slice(0, from + 4),
      Array.from({ length: from + 4 }, (_, i) => 20 * 2 ** i),
      'each failure doubles the wait',
    );
    await agent.stop();
    const passes = failures.length;
    await held(new Promise((r) => setTimeout(r, 400)));
    assert.equal(failures.length, passes, 'no pass after stop');
  });
});
