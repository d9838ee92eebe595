import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeDataplane, type FloatingIpCounters, type RouterTarget } from '../../src/dataplane/index.js';
import {
  createMetricsRegistry,
  Observer,
  ReconcileHistory,
  trafficChunks,
  type Observation,
} from '../../src/metrics/index.js';
import { createFloatingIp } from '../../src/model/index.js';
import { smallCloud } from '../support/model-fixture.js';
import { sample } from '../support/serve-process.js';
import { fakeAgent } from '../support/fake-agent.js';

async function setup(maxWaitMs = 100) {
  const c = await smallCloud();
  const dp = new FakeDataplane();
  const agent = fakeAgent(c.store, dp);
  let clock = 1_000_000;
  const observer = new Observer({
    store: c.store,
    dataplaneFor: () => dp,
    defaultBackend: 'fake',
    cacheMs: 1000,
    maxWaitMs,
    now: () => clock,
    conntrackUsage: async () => ({ count: 1, max: 100 }),
  });
  await agent.start();
  const fip = await c.store.update((tx) =>
    createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
  );
  await agent.sync();
  const target: RouterTarget = { routerId: c.router, namespace: 'qrouter-1', gatewayDevice: 'qg-1' };
  return { c, dp, agent, observer, fip, target, advance: (ms: number) => (clock += ms) };
}

describe('Observer', () => {
  it('keeps an unchanged router’s observation, and renews it when counters change', async () => {
    const s = await setup();
    const text = (o: Observation) => Buffer.concat([...trafficChunks(o)]).toString();
    const first = await s.observer.observe();
    s.advance(1001);
    const second = await s.observer.observe();
    assert.notEqual(second, first, 'a new observation after the cache period');
    assert.equal(
      second.routers[0],
      first.routers[0],
      'same floating IPs and counters: the same router object',
    );
    assert.equal(text(second), text(first));

    s.dp.addTraffic(s.target, s.fip.floatingIpAddress, 3, 2, 100);
    s.advance(1001);
    const third = await s.observer.observe();
    assert.notEqual(third.routers[0], first.routers[0], 'changed counters: a new router object');
    const rendered = text(third);
    assert.equal(
      sample(rendered, 'sfip_floating_ip_packets_total', {
        floating_ip_address: s.fip.floatingIpAddress,
        direction: 'in',
      }),
      3,
    );
    await s.agent.stop();
  });

  it('does not go through counters again when the dataplane answers with the same array as last time', async () => {
    const s = await setup();
    const counters: FloatingIpCounters = {
      floatingIp: s.fip.floatingIpAddress,
      packetsIn: 4,
      bytesIn: 400,
      packetsOut: 1,
      bytesOut: 100,
    };
    let elementReads = 0;
    // One array for every read, as the nftables backend answers a dump that did not change; its element counts
    // how often the observer looks at it.
    const same: FloatingIpCounters[] = [];
    Object.defineProperty(same, 0, {
      get: () => {
        elementReads++;
        return counters;
      },
      enumerable: true,
    });
    s.dp.counters = async () => same;
    const first = await s.observer.observe();
    const readsAfterFirst = elementReads;
    assert.ok(readsAfterFirst > 0);
    s.advance(1001);
    const second = await s.observer.observe();
    assert.equal(elementReads, readsAfterFirst, 'the same array is not walked again');
    assert.equal(second.routers[0], first.routers[0]);
    assert.deepEqual(second.routers[0]!.counters[0], counters);
    // A new array (a changed dump) is read again.
    s.dp.counters = async () => [{ ...counters, packetsIn: 5 }];
    s.advance(1001);
    const third = await s.observer.observe();
    assert.equal(third.routers[0]!.counters[0]?.packetsIn, 5);
    await s.agent.stop();
  });

  it('serves the previous observation when a new read takes longer than maxWaitMs, and stops waiting after a slow read', async () => {
    const s = await setup(50);
    const exporter = createMetricsRegistry({
      observer: s.observer,
      history: new ReconcileHistory(),
      processMetrics: false,
    });
    const before = await exporter.metrics();
    const labels = { floating_ip_address: s.fip.floatingIpAddress, direction: 'in' };
    assert.equal(sample(before, 'sfip_floating_ip_packets_total', labels), 0);

    // The next kernel read hangs until released, as a read of 100,000 counters takes its time.
    let release: () => void = () => undefined;
    const slow = s.dp.counters.bind(s.dp);
    s.dp.counters = async (target: RouterTarget): Promise<FloatingIpCounters[]> => {
      await new Promise<void>((r) => (release = r));
      return slow(target);
    };
    s.dp.addTraffic(s.target, s.fip.floatingIpAddress, 7, 0, 100);
    s.advance(1001);
    const stale = await exporter.metrics();
    assert.equal(sample(stale, 'sfip_floating_ip_packets_total', labels), 0, 'the previous read, not a wait');
    release();
    await new Promise((r) => setTimeout(r, 20));
    const fresh = await exporter.metrics();
    assert.equal(
      sample(fresh, 'sfip_floating_ip_packets_total', labels),
      7,
      'the read that finished meanwhile',
    );

    // The last read took longer than maxWaitMs: readers no longer wait for a new one, even a quick one.
    s.dp.counters = slow;
    s.dp.addTraffic(s.target, s.fip.floatingIpAddress, 2, 0, 100);
    s.advance(1001);
    const immediate = await exporter.metrics();
    assert.equal(sample(immediate, 'sfip_floating_ip_packets_total', labels), 7);
    await new Promise((r) => setTimeout(r, 20));
    const next = await exporter.metrics();
    assert.equal(sample(next, 'sfip_floating_ip_packets_total', labels), 9);
    await s.agent.stop();
  });

  it('follows floating IPs created and deleted after the first observation through the change feed', async () => {
    const s = await setup();
    assert.deepEqual(
      (await s.observer.observe()).routers[0]!.floatingIps.map((f) => f.address),
      [s.fip.floatingIpAddress],
    );
    const second = await s.c.store.update((tx) =>
      createFloatingIp(tx, s.c.ctx, { floatingNetworkId: s.c.publicNet, portId: s.c.vm2 }),
    );
    await s.agent.sync();
    s.advance(1001);
    const both = (await s.observer.observe()).routers[0]!;
    assert.deepEqual(
      both.floatingIps.map((f) => f.address),
      [s.fip.floatingIpAddress, second.floatingIpAddress].sort(),
    );
    assert.equal(both.statusCounts.ACTIVE, 2);
    await s.c.store.update((tx) => tx.delete('floatingip', s.fip.id));
    s.advance(1001);
    const one = (await s.observer.observe()).routers[0]!;
    assert.deepEqual(
      one.floatingIps.map((f) => f.address),
      [second.floatingIpAddress],
    );
    await s.agent.stop();
  });
});
