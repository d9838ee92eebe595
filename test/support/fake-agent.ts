import pino from 'pino';
import { Agent, type AgentOptions } from '../../src/agent/index.js';
import { FakeDataplane, type Dataplane } from '../../src/dataplane/index.js';
import type { Store } from '../../src/store/index.js';

/**
 * An agent for tests of its logic, over a dataplane without a kernel (FakeDataplane or a subclass): every router
 * on that dataplane, no conntrack cleanup or gratuitous ARP (the fake's namespaces do not exist), nothing recorded
 * on disk, and no resync or feed poll firing during a test (tests call `sync()`). `options` changes any of it.
 */
export function fakeAgent(store: Store, dataplane: Dataplane, options: Partial<AgentOptions> = {}): Agent {
  return new Agent({
    store,
    dataplaneFor: () => dataplane,
    defaultBackend: 'fake',
    log: pino({ level: 'silent' }),
    resyncIntervalMs: 600_000,
    pollIntervalMs: 600_000,
    programmedRoutersPath: null,
    garp: false,
    conntrackCleanup: false,
    ...options,
  });
}

/** An agent on a new fake dataplane, started (tests of deltas, bench/control/delta-wake.ts). */
export async function startedFakeAgent(store: Store): Promise<{ agent: Agent; dp: FakeDataplane }> {
  const dp = new FakeDataplane();
  const agent = fakeAgent(store, dp);
  await agent.start();
  return { agent, dp };
}
