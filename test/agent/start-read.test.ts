import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  FakeDataplane,
  type BackendState,
  type DesiredRouter,
  type RouterTarget,
} from '../../src/dataplane/index.js';
import {
  addRouterInterface,
  createFloatingIp,
  createNetwork,
  createPort,
  createRouter,
  createSubnet,
  updateFloatingIp,
} from '../../src/model/index.js';
import type { View } from '../../src/model/index.js';
import type { Store } from '../../src/store/index.js';
import { fakeAgent } from '../support/fake-agent.js';
import { smallCloud, type SmallCloud } from '../support/model-fixture.js';

/**
 * The store, with each read's view changed by `change` (given the view and the read's number, from 0): the other
 * methods are the view's own.
 */
function withViews(store: Store, change: (view: View, read: number) => Partial<View>): Store {
  let reads = 0;
  const wrapped: Store = Object.create(store) as Store;
  wrapped.read = (fn) => {
    const read = reads++;
    return store.read((view) =>
      fn({
        get: view.get.bind(view),
        list: view.list.bind(view),
        lookup: view.lookup.bind(view),
        find: view.find.bind(view),
        range: view.range.bind(view),
        count: view.count.bind(view),
        ...change(view, read),
      }),
    );
  };
  return wrapped;
}

/** The store, counting the reads of a router's floating IPs through its index (what routerIntent does alone). */
function countingRouterFinds(store: Store): { store: Store; finds: () => number } {
  let finds = 0;
  const counted = withViews(store, (view) => ({
    find: ((kind: string, key: string) => {
      if (kind === 'floatingip' && key.startsWith('fip-router/')) finds++;
      return view.find(kind as 'floatingip', key);
    }) as View['find'],
  }));
  return { store: counted, finds: () => finds };
}

/** A second router (qrouter-2) with its own subnet and a VM port with a floating IP. */
async function secondRouter(c: SmallCloud): Promise<{ router: string; fip: string }> {
  return c.store.update((tx) => {
    const net = createNetwork(tx, c.ctx, { name: 'private-2' });
    const subnet = createSubnet(tx, c.ctx, { networkId: net.id, cidr: '10.0.1.0/24' });
    const router = createRouter(tx, c.ctx, {
      name: 'r2',
      namespace: 'qrouter-2',
      gatewayDevice: 'qg-2',
      externalGateway: { networkId: c.publicNet, externalFixedIps: [{ ipAddress: '203.0.113.3' }] },
    });
    addRouterInterface(tx, c.ctx, router.id, { subnetId: subnet.id });
    const vm = createPort(tx, c.ctx, {
      networkId: net.id,
      name: 'vm3',
      fixedIps: [{ ipAddress: '10.0.1.13' }],
    });
    const fip = createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: vm.id });
    return { router: router.id, fip: fip.id };
  });
}

describe('agent start: one read of every floating IP', () => {
  it("plans each router's first pass from the start's listing, without reading its floating IPs again", async () => {
    const c = await smallCloud();
    const fip = await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
    );
    const counting = countingRouterFinds(c.store);
    const dp = new FakeDataplane();
    const agent = fakeAgent(counting.store, dp);
    await agent.start();
    assert.equal(counting.finds(), 0);
    assert.deepEqual(
      [...dp.routers.get(`qrouter-1/${c.router}`)!.inbound],
      [[fip.floatingIpAddress, '10.0.0.11']],
    );
    const now = await c.store.read((v) => v.get('floatingip', fip.id)!);
    assert.equal(now.status, 'ACTIVE');
    await agent.stop();
  });

  it("starts when a router's intent cannot be read in the start read, and its pass reads it again", async () => {
    const c = await smallCloud();
    const fip = await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
    );
    // The first read (the start's) fails every index lookup, as a store error inside routerIntent would.
    const failing = withViews(c.store, (view, read) => ({
      lookup: (key: string) => {
        if (read === 0) throw new Error(`lookup ${key} failed`);
        return view.lookup(key);
      },
    }));
    const dp = new FakeDataplane();
    const agent = fakeAgent(failing, dp);
    await agent.start();
    assert.deepEqual(
      [...dp.routers.get(`qrouter-1/${c.router}`)!.inbound],
      [[fip.floatingIpAddress, '10.0.0.11']],
    );
    assert.equal((await c.store.read((v) => v.get('floatingip', fip.id)!)).status, 'ACTIVE');
    await agent.stop();
  });

  it('reads the store again for a router that changed between the start read and its first pass', async () => {
    const c = await smallCloud();
    const first = await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
    );
    const second = await secondRouter(c);
    const fipOf = new Map([
      [c.router, { namespace: 'qrouter-1', fip: first.id }],
      [second.router, { namespace: 'qrouter-2', fip: second.fip }],
    ]);
    // One full pass at a time (concurrency 2 keeps one worker for deltas): the first pass's kernel read is held,
    // so the other router's pass waits while its floating IP is disassociated.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let entered!: (routerId: string) => void;
    const firstRead = new Promise<string>((resolve) => (entered = resolve));
    class HeldDataplane extends FakeDataplane {
      override async read(target: RouterTarget, desired?: DesiredRouter): Promise<BackendState> {
        entered(target.routerId);
        await held;
        return super.read(target, desired);
      }
    }
    const dp = new HeldDataplane();
    const agent = fakeAgent(c.store, dp, { concurrency: 2 });
    const started = agent.start();
    const passing = await firstRead;
    const waiting = [...fipOf.keys()].find((id) => id !== passing)!;
    const { namespace, fip } = fipOf.get(waiting)!;
    // The change feed wakes the agent (onChange), which marks the waiting router dirty before its pass starts.
    await c.store.update((tx) => updateFloatingIp(tx, c.ctx, fip, { portId: null }));
    await new Promise((resolve) => setTimeout(resolve, 20));
    release();
    await started;
    await agent.sync();
    assert.deepEqual([...dp.routers.get(`${namespace}/${waiting}`)!.inbound], []);
    const now = await c.store.read((v) => v.get('floatingip', fip)!);
    assert.equal(now.status, 'DOWN');
    await agent.stop();
  });
});
