import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeDataplane, type RouterTarget } from '../../src/dataplane/index.js';
import { createMetricsRegistry, Observer, ReconcileHistory } from '../../src/metrics/index.js';
import { createFloatingIp } from '../../src/model/index.js';
import { smallCloud, type SmallCloud } from '../support/model-fixture.js';
import { sample } from '../support/serve-process.js';
import { fakeAgent } from '../support/fake-agent.js';

async function setup(options: { cacheMs?: number; conntrackFails?: boolean } = {}) {
  const c = await smallCloud();
  const dp = new FakeDataplane();
  const agent = fakeAgent(c.store, dp);
  const history = new ReconcileHistory().follow(agent);
  let clock = 1_000_000;
  const observer = new Observer({
    store: c.store,
    dataplaneFor: () => dp,
    defaultBackend: 'fake',
    cacheMs: options.cacheMs ?? 1000,
    now: () => clock,
    conntrackUsage: async (namespace) => {
      if (options.conntrackFails) throw new Error(`Cannot open network namespace "${namespace}"`);
      return { count: 42, max: 262144 };
    },
  });
  const registry = createMetricsRegistry({ observer, history, processMetrics: false });
  await agent.start();
  const target: RouterTarget = { routerId: c.router, namespace: 'qrouter-1', gatewayDevice: 'qg-1' };
  return {
    c,
    dp,
    agent,
    history,
    registry,
    target,
    advance: (ms: number) => (clock += ms),
  };
}

async function fip(c: SmallCloud, port: string) {
  return c.store.update((tx) =>
    createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: port }),
  );
}

describe('/metrics', () => {
  it('exports the dataplane’s per-floating-IP counters with router, address, backend and direction', async () => {
    const s = await setup();
    const a = await fip(s.c, s.c.vm1);
    const b = await fip(s.c, s.c.vm2);
    await s.agent.sync();
    s.dp.addTraffic(s.target, a.floatingIpAddress, 10, 7, 100);
    s.dp.addTraffic(s.target, b.floatingIpAddress, 1, 0, 60);
    const text = await s.registry.metrics();
    const labels = (address: string, direction: string) => ({
      router_id: s.c.router,
      floating_ip_address: address,
      backend: 'fake',
      direction,
    });
    assert.equal(sample(text, 'sfip_floating_ip_packets_total', labels(a.floatingIpAddress, 'in')), 10);
    assert.equal(sample(text, 'sfip_floating_ip_packets_total', labels(a.floatingIpAddress, 'out')), 7);
    assert.equal(sample(text, 'sfip_floating_ip_bytes_total', labels(a.floatingIpAddress, 'in')), 1000);
    assert.equal(sample(text, 'sfip_floating_ip_bytes_total', labels(b.floatingIpAddress, 'in')), 60);
    assert.equal(sample(text, 'sfip_floating_ip_packets_total', labels(b.floatingIpAddress, 'out')), 0);
    assert.equal(sample(text, 'sfip_floating_ips', { router_id: s.c.router, status: 'ACTIVE' }), 2);
    assert.equal(sample(text, 'sfip_floating_ips', { router_id: s.c.router, status: 'ERROR' }), 0);
    assert.equal(sample(text, 'sfip_floating_ip_counters_up', { router_id: s.c.router }), 1);
    assert.equal(sample(text, 'sfip_conntrack_entries', { namespace: 'qrouter-1' }), 42);
    assert.match(text, /^sfip_conntrack_max 262144$/m);
    await s.agent.stop();
  });

  it('answers only the families asked for, and reads no counter for a family that needs none', async () => {
    const s = await setup();
    const a = await fip(s.c, s.c.vm1);
    await s.agent.sync();
    s.dp.addTraffic(s.target, a.floatingIpAddress, 3, 2, 100);
    const families = (text: string) =>
      [...new Set(text.match(/^# TYPE \S+/gm)?.map((line) => line.slice('# TYPE '.length)))].sort();
    const readsBefore = s.dp.counterReads;
    const histogram = await s.registry.metrics(
      new Set(['sfip_floating_ip_change_seconds', 'no_such_family']),
    );
    assert.deepEqual(families(histogram), ['sfip_floating_ip_change_seconds']);
    assert.match(histogram, /^sfip_floating_ip_change_seconds_count \d+$/m);
    assert.equal(s.dp.counterReads, readsBefore, 'no counter read for the change histogram');
    const packets = await s.registry.metrics(
      new Set(['sfip_floating_ip_packets_total', 'sfip_floating_ips']),
    );
    assert.deepEqual(families(packets), ['sfip_floating_ip_packets_total', 'sfip_floating_ips']);
    assert.equal(
      sample(packets, 'sfip_floating_ip_packets_total', {
        floating_ip_address: a.floatingIpAddress,
        direction: 'in',
      }),
      3,
    );
    assert.equal(s.dp.counterReads, readsBefore + 1);
    assert.equal(families(await s.registry.metrics()).length > 10, true, 'with no names, every family');
    await s.agent.stop();
  });

  it('reads the dataplane once per cache period, however many scrapes ask', async () => {
    const s = await setup({ cacheMs: 1000 });
    const a = await fip(s.c, s.c.vm1);
    await s.agent.sync();
    const readsBefore = s.dp.counterReads;
    await Promise.all([s.registry.metrics(), s.registry.metrics(), s.registry.metrics()]);
    assert.equal(s.dp.counterReads - readsBefore, 1, 'three concurrent scrapes share one read');
    s.dp.addTraffic(s.target, a.floatingIpAddress, 5, 0);
    const cached = await s.registry.metrics();
    assert.equal(s.dp.counterReads - readsBefore, 1, 'a scrape within the period is served from the cache');
    assert.equal(sample(cached, 'sfip_floating_ip_packets_total', { direction: 'in' }), 0);
    s.advance(1001);
    const fresh = await s.registry.metrics();
    assert.equal(s.dp.counterReads - readsBefore, 2);
    assert.equal(sample(fresh, 'sfip_floating_ip_packets_total', { direction: 'in' }), 5);
    await s.agent.stop();
  });

  it('says when counters or conntrack cannot be read, instead of reporting zeros', async () => {
    const s = await setup({ conntrackFails: true });
    await fip(s.c, s.c.vm1);
    await s.agent.sync();
    s.dp.counters = async () => {
      throw new Error('nft: netlink: Error: Could not process rule');
    };
    const text = await s.registry.metrics();
    assert.equal(sample(text, 'sfip_floating_ip_counters_up', { router_id: s.c.router }), 0);
    assert.equal(sample(text, 'sfip_floating_ip_packets_total', { direction: 'in' }), undefined);
    assert.equal(sample(text, 'sfip_conntrack_entries', { namespace: 'qrouter-1' }), undefined);
    await s.agent.stop();
  });

  it('records reconcile durations, apply errors, drift repairs and the last successful apply', async () => {
    const s = await setup();
    s.dp.failNextApply = new Error('nft: No space left on device');
    s.dp.failApplies = 2; // the delta, then the full pass it falls back to
    await fip(s.c, s.c.vm1);
    await s.agent.sync();
    let text = await s.registry.metrics();
    assert.equal(sample(text, 'sfip_reconcile_errors_total', { router_id: s.c.router }), 1);
    // Drift: the kernel lost the router's state behind the agent's back; the periodic resync repairs it.
    s.agent.resyncAll('test');
    await s.agent.sync();
    s.dp.routers.clear();
    s.agent.resyncAll('resync');
    await s.agent.sync();
    s.advance(1001);
    text = await s.registry.metrics();
    assert.equal(sample(text, 'sfip_drift_repairs_total', { router_id: s.c.router }), 1);
    assert.equal(sample(text, 'sfip_reconcile_errors_total', { router_id: s.c.router }), 1);
    const passes = s.history.router(s.c.router)!.passes;
    assert.equal(sample(text, 'sfip_reconcile_duration_seconds_count', { router_id: s.c.router }), passes);
    const last = sample(text, 'sfip_last_successful_apply_timestamp_seconds', { router_id: s.c.router })!;
    assert.ok(Math.abs(last - Date.now() / 1000) < 60, `last successful apply ${last}`);
    await s.agent.stop();
  });

  it('measures each floating IP from its change in the store to applied and reported, in incremental passes', async () => {
    const s = await setup();
    // Changes stamped two seconds ago: each must land in the histogram between 1 s and 5 s.
    const ctx = { ...s.c.ctx, now: () => new Date(Date.now() - 2000).toISOString() };
    await s.c.store.update((tx) => {
      createFloatingIp(tx, ctx, { floatingNetworkId: s.c.publicNet, portId: s.c.vm1 });
      createFloatingIp(tx, ctx, { floatingNetworkId: s.c.publicNet, portId: s.c.vm2 });
    });
    await s.agent.sync();
    const text = await s.registry.metrics();
    const count = /^sfip_floating_ip_change_seconds_count (\d+)$/m.exec(text)?.[1];
    assert.equal(count, '2', text);
    assert.equal(sample(text, 'sfip_floating_ip_change_seconds_bucket', { le: '1' }), 0);
    assert.equal(sample(text, 'sfip_floating_ip_change_seconds_bucket', { le: '5' }), 2);
    await s.agent.stop();
  });
});
