/**
 * Per-floating-IP deltas: a change to a few floating IPs is planned against what the agent applied last, with no
 * kernel read and only the changed mappings in the batch; a delta the kernel refuses falls back to a full pass.
 */
import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import type { Agent, ReconcileOutcome } from '../../src/agent/index.js';
import { FakeDataplane } from '../../src/dataplane/index.js';
import {
  createFloatingIp,
  createNetwork,
  createPort,
  createSubnet,
  DEVICE_OWNER_ROUTER_INTERFACE,
  updateFloatingIp,
  updateRouter,
} from '../../src/model/index.js';
import { smallCloud, type SmallCloud } from '../support/model-fixture.js';
import { fakeAgent, startedFakeAgent } from '../support/fake-agent.js';

const status = (c: SmallCloud, id: string) =>
  c.store.read((v) => {
    const f = v.get('floatingip', id)!;
    return [f.status, f.statusReason];
  });

function outcomes(agent: Agent): ReconcileOutcome[] {
  const seen: ReconcileOutcome[] = [];
  agent.on('reconciled', (o: ReconcileOutcome) => seen.push(o));
  return seen;
}

/** An agent on a fake dataplane, started. */
const startedAgent = (c: SmallCloud) => startedFakeAgent(c.store);

const associate = (c: SmallCloud, portId: string) =>
  c.store.update((tx) => createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId }));

describe('agent deltas', () => {
  it('applies a new floating IP as a delta: no kernel read, only its mapping in the batch', async () => {
    const c = await smallCloud();
    const dp = new FakeDataplane();
    const agent = fakeAgent(c.store, dp);
    await agent.start();
    const first = await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
    );
    await agent.sync(); // the router's first pass after start is full (nothing applied yet to trust)
    const readsBefore = dp.reads;
    const seen = outcomes(agent);
    const second = await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm2 }),
    );
    await agent.sync();
    assert.equal(dp.reads, readsBefore, 'a delta reads nothing back from the kernel');
    const plan = dp.applied.at(-1)!;
    assert.deepEqual(
      plan.added.map((m) => [m.floatingIp, m.fixedIp]),
      [[second.floatingIpAddress, '10.0.0.12']],
    );
    assert.deepEqual(plan.removed, []);
    assert.deepEqual(dp.addressChanges.at(-1), { add: [second.floatingIpAddress], remove: [] });
    assert.equal(plan.rebuild, false);
    const state = dp.routers.get(`qrouter-1/${c.router}`)!;
    assert.deepEqual(
      [...state.inbound].sort(),
      [
        [first.floatingIpAddress, '10.0.0.11'],
        [second.floatingIpAddress, '10.0.0.12'],
      ].sort(),
    );
    assert.deepEqual(await status(c, second.id), ['ACTIVE', '']);
    assert.deepEqual(
      seen.map((o) => [o.cause, o.added, o.removed]),
      [['floatingip-changed', 1, 0]],
    );

    // Disassociating is a delta too: its mapping and address go, the other floating IP stays.
    await c.store.update((tx) => updateFloatingIp(tx, c.ctx, first.id, { portId: null }));
    await agent.sync();
    assert.equal(dp.reads, readsBefore);
    const removal = dp.applied.at(-1)!;
    assert.deepEqual(
      removal.removed.map((m) => m.floatingIp),
      [first.floatingIpAddress],
    );
    assert.deepEqual(dp.addressChanges.at(-1), { add: [], remove: [first.floatingIpAddress] });
    assert.deepEqual([...state.inbound], [[second.floatingIpAddress, '10.0.0.12']]);
    assert.deepEqual([...state.addresses], [second.floatingIpAddress]);
    await agent.stop();
  });

  it('moving a floating IP to another port replaces its mapping and keeps its address', async () => {
    const c = await smallCloud();
    const dp = new FakeDataplane();
    const agent = fakeAgent(c.store, dp);
    await agent.start();
    const fip = await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
    );
    await agent.sync();
    const readsBefore = dp.reads;
    await c.store.update((tx) => updateFloatingIp(tx, c.ctx, fip.id, { portId: c.vm2 }));
    await agent.sync();
    assert.equal(dp.reads, readsBefore);
    const plan = dp.applied.at(-1)!;
    assert.deepEqual(
      [plan.removed.map((m) => m.fixedIp), plan.added.map((m) => m.fixedIp)],
      [['10.0.0.11'], ['10.0.0.12']],
    );
    assert.deepEqual(dp.addressChanges.at(-1), { add: [], remove: [] });
    assert.deepEqual(
      [...dp.routers.get(`qrouter-1/${c.router}`)!.inbound],
      [[fip.floatingIpAddress, '10.0.0.12']],
    );
    assert.deepEqual(await status(c, fip.id), ['ACTIVE', '']);
    await agent.stop();
  });

  it('two floating IPs trading ports in one change is a delta: each takes the address the other gave up', async () => {
    const c = await smallCloud();
    const { agent, dp } = await startedAgent(c);
    const a = await associate(c, c.vm1);
    const b = await associate(c, c.vm2);
    await agent.sync();
    const seen = outcomes(agent);
    await c.store.update((tx) => {
      updateFloatingIp(tx, c.ctx, b.id, { portId: null });
      updateFloatingIp(tx, c.ctx, a.id, { portId: c.vm2 });
      updateFloatingIp(tx, c.ctx, b.id, { portId: c.vm1 });
    });
    await agent.sync();
    // Only a delta reports change latencies: the fixed addresses passed between changed floating IPs, no claim.
    assert.deepEqual(
      seen.map((o) => [o.cause, o.changeLatenciesMs?.length]),
      [['floatingip-changed', 2]],
    );
    assert.deepEqual(
      [...dp.routers.get(`qrouter-1/${c.router}`)!.inbound].sort(),
      [
        [a.floatingIpAddress, '10.0.0.12'],
        [b.floatingIpAddress, '10.0.0.11'],
      ].sort(),
    );
    await agent.stop();
  });

  it('a new floating IP claiming a fixed address another one holds goes to a full pass, which refuses both', async () => {
    const c = await smallCloud();
    // Two subnets with the same CIDR on one router (an admin's interface port skips the overlap check) and a VM
    // on the second holding 10.0.0.11 too, as in refused-mappings.test.ts.
    const twin = await c.store.update((tx) => {
      const net = createNetwork(tx, c.ctx, { name: 'twin' });
      createSubnet(tx, c.ctx, { networkId: net.id, cidr: '10.0.0.0/24' });
      createPort(tx, c.ctx, {
        networkId: net.id,
        fixedIps: [{ ipAddress: '10.0.0.1' }],
        deviceOwner: DEVICE_OWNER_ROUTER_INTERFACE,
        deviceId: c.router,
      });
      return createPort(tx, c.ctx, { networkId: net.id, fixedIps: [{ ipAddress: '10.0.0.11' }] });
    });
    const { agent, dp } = await startedAgent(c);
    const first = await associate(c, c.vm1);
    await agent.sync();
    const second = await associate(c, twin.id);
    await agent.sync();
    // A delta would have mapped the second beside the first; only a full pass decides claims, refusing both.
    assert.deepEqual([...dp.routers.get(`qrouter-1/${c.router}`)!.inbound], []);
    for (const id of [first.id, second.id]) assert.equal((await status(c, id))[0], 'ERROR', id);
    await agent.stop();
  });

  it('falls back to a full pass from a fresh read when the kernel refuses a delta', async () => {
    const c = await smallCloud();
    const dp = new FakeDataplane();
    const agent = fakeAgent(c.store, dp);
    await agent.start();
    const first = await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
    );
    await agent.sync();
    const seen = outcomes(agent);
    const readsBefore = dp.reads;
    dp.failNextApply = new Error('nft: Could not process rule: No such file or directory');
    const second = await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm2 }),
    );
    await agent.sync();
    assert.equal(dp.reads, readsBefore + 1, 'the fallback reads the kernel');
    assert.deepEqual(
      seen.map((o) => [o.cause, o.error]),
      [['floatingip-changed', undefined]],
    );
    assert.equal(dp.routers.get(`qrouter-1/${c.router}`)!.inbound.size, 2);
    assert.deepEqual(await status(c, first.id), ['ACTIVE', '']);
    assert.deepEqual(await status(c, second.id), ['ACTIVE', '']);
    await agent.stop();
  });

  it('a router change makes the next pass full, even with floating IP changes pending', async () => {
    const c = await smallCloud();
    const dp = new FakeDataplane();
    const agent = fakeAgent(c.store, dp);
    await agent.start();
    await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
    );
    await agent.sync();
    const readsBefore = dp.reads;
    await c.store.update((tx) => {
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm2 });
      updateRouter(tx, c.ctx, c.router, { namespace: 'qrouter-moved' });
    });
    await agent.sync();
    assert.ok(dp.reads > readsBefore, 'the moved router was read where it now lives');
    assert.equal(dp.routers.get(`qrouter-moved/${c.router}`)?.inbound.size, 2);
    assert.equal(dp.routers.has(`qrouter-1/${c.router}`), false);
    await agent.stop();
  });

  it('starts the delta for the first change after a quiet spell without waiting for a timer', async () => {
    const c = await smallCloud();
    const { agent, dp } = await startedAgent(c);
    await associate(c, c.vm1);
    await agent.sync(); // the router's first pass is full; later ones are deltas
    // Longer than the coalescing window (2 ms) since the last batch: the next change comes after a quiet spell.
    await new Promise((r) => setTimeout(r, 20));
    const applies = dp.applied.length;
    // No timer fires from here on: a delta that waited for one would never start.
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const second = await associate(c, c.vm2);
      for (let turn = 0; turn < 10_000 && dp.applied.length === applies; turn++)
        await new Promise((r) => setImmediate(r));
      assert.equal(dp.applied.length, applies + 1, 'the delta started without a timer');
      assert.deepEqual(
        dp.applied.at(-1)!.added.map((m) => m.floatingIp),
        [second.floatingIpAddress],
      );
    } finally {
      // The timers held meanwhile (the status writer's window) run now, so that the pass ends and the agent stops.
      mock.timers.runAll();
      mock.timers.reset();
      await agent.stop();
    }
  });
});

describe('agent deltas during a resync', () => {
  it('applies a delta while a resync reads the kernel, and the resync then plans around it', async () => {
    const c = await smallCloud();
    const dp = new FakeDataplane();
    const agent = fakeAgent(c.store, dp);
    await agent.start();
    const first = await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
    );
    await agent.sync();
    const seen = outcomes(agent);
    let open: () => void = () => undefined;
    dp.readGate = new Promise<void>((resolve) => (open = resolve));
    const readsBefore = dp.reads;
    agent.resyncAll('resync');
    while (dp.reads === readsBefore) await new Promise((r) => setTimeout(r, 1));
    // The resync is now stuck in its kernel read. Two changes arrive: one mapping goes, another comes.
    await c.store.update((tx) => updateFloatingIp(tx, c.ctx, first.id, { portId: null }));
    const second = await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm2 }),
    );
    const deadline = Date.now() + 5000;
    const state = () => dp.routers.get(`qrouter-1/${c.router}`)!;
    while (
      (state().inbound.has(first.floatingIpAddress) || !state().inbound.has(second.floatingIpAddress)) &&
      Date.now() < deadline
    ) {
      await new Promise((r) => setTimeout(r, 2));
    }
    assert.deepEqual(
      [...state().inbound],
      [[second.floatingIpAddress, '10.0.0.12']],
      'applied during the read',
    );
    while ((await status(c, second.id))[0] !== 'ACTIVE' && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 2));
    assert.deepEqual(await status(c, second.id), ['ACTIVE', '']);
    assert.equal(
      seen.some((o) => o.cause === 'resync'),
      false,
      'the resync is still reading',
    );
    const appliesBefore = dp.applied.length;
    dp.readGate = undefined;
    open();
    await agent.sync();
    // The read predates both changes; planned against it alone, the resync would delete an element that is gone.
    const resync = seen.find((o) => o.cause === 'resync')!;
    assert.deepEqual([resync.error, resync.changed, resync.drifted], [undefined, false, false]);
    assert.equal(dp.applied.length, appliesBefore, 'the resync found nothing left to do');
    assert.deepEqual([...state().inbound], [[second.floatingIpAddress, '10.0.0.12']]);
    await agent.stop();
  });
});
