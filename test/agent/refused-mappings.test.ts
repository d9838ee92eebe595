import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { FakeDataplane, routerIntent } from '../../src/dataplane/index.js';
import {
  addRouterInterface,
  createFloatingIp,
  createNetwork,
  createPort,
  createRouter,
  createSubnet,
  DEVICE_OWNER_ROUTER_INTERFACE,
  type Context,
  type IPv4,
} from '../../src/model/index.js';
import { smallCloud, type SmallCloud } from '../support/model-fixture.js';
import { fakeAgent } from '../support/fake-agent.js';

const tenant = (projectId: string): Context => ({
  projectId,
  isAdmin: false,
  now: () => new Date().toISOString(),
  newId: () => randomUUID(),
  allocationHints: new Map<string, IPv4>(),
});

const fipOf = (c: SmallCloud, id: string) => c.store.read((v) => v.get('floatingip', id)!);

describe('the agent refuses mappings that may not be on a router, floating IP by floating IP', () => {
  it('refuses a graft stored by an older sfip (another project interface re-pointed at the router)', async () => {
    const c = await smallCloud();
    const beta = tenant('beta');
    const own = await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
    );
    // Beta's own network with the same CIDR, its router and interface, and a VM holding the address of vm1.
    const grafted = await c.store.update((tx) => {
      const net = createNetwork(tx, beta, { name: 'beta-net' });
      const sub = createSubnet(tx, beta, { networkId: net.id, cidr: '10.0.0.0/24' });
      const router = createRouter(tx, beta, { externalGateway: { networkId: c.publicNet } });
      const attached = addRouterInterface(tx, beta, router.id, { subnetId: sub.id });
      const vm = createPort(tx, beta, { networkId: net.id, fixedIps: [{ ipAddress: '10.0.0.11' }] });
      const fip = createFloatingIp(tx, beta, { floatingNetworkId: c.publicNet, portId: vm.id });
      assert.equal(fip.routerId, router.id, 'the model routes it through beta router');
      // What the API allowed before: device_id of beta's interface set to alpha's router, and the floating IP
      // created afterwards picked that router.
      const iface = tx.get('port', attached.portId)!;
      tx.put('port', { ...iface, deviceId: c.router });
      tx.put('floatingip', { ...fip, routerId: c.router });
      return fip;
    });
    const intent = await c.store.read((v) => routerIntent(v, v.get('router', c.router)!));
    assert.deepEqual(
      intent.floatingIps.map((f) => f.id),
      [own.id],
    );
    assert.deepEqual(
      intent.refused.map((r) => r.floatingIp.id),
      [grafted.id],
    );
    assert.deepEqual(
      intent.desired!.internalCidrs,
      ['10.0.0.0/24'],
      "the graft's subnet is not the router's",
    );
    const dp = new FakeDataplane();
    const agent = fakeAgent(c.store, dp);
    await agent.start();
    await agent.sync();
    const state = dp.routers.get(`qrouter-1/${c.router}`)!;
    const ownAfter = await fipOf(c, own.id);
    assert.deepEqual([...state.inbound], [[ownAfter.floatingIpAddress, '10.0.0.11']]);
    assert.equal(ownAfter.status, 'ACTIVE');
    const refused = await fipOf(c, grafted.id);
    assert.equal(refused.status, 'ERROR');
    assert.match(
      refused.statusReason,
      /refusing to program: subnet .* is not attached to router .* by its project or an admin/,
    );
    await agent.stop();
  });

  it('refuses a cross-project association no admin made', async () => {
    const c = await smallCloud();
    const beta = tenant('beta');
    const betaFip = await c.store.update((tx) =>
      createFloatingIp(tx, beta, { floatingNetworkId: c.publicNet }),
    );
    // Stored as if beta had associated its floating IP with the admin project's vm1.
    await c.store.update((tx) =>
      tx.put('floatingip', {
        ...betaFip,
        portId: c.vm1,
        fixedIpAddress: '10.0.0.11' as IPv4,
        routerId: c.router,
      }),
    );
    const intent = await c.store.read((v) => routerIntent(v, v.get('router', c.router)!));
    assert.equal(intent.floatingIps.length, 0);
    assert.match(
      intent.refused[0]!.reason,
      /of project beta maps port .* of project admin-project, and no admin associated them/,
    );
    // The same association made by an admin through the model is recorded as such, and programmed.
    const byAdmin = await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm2, projectId: 'beta' }),
    );
    assert.equal(byAdmin.adminAssociated, true);
    const after = await c.store.read((v) => routerIntent(v, v.get('router', c.router)!));
    assert.deepEqual(
      after.floatingIps.map((f) => f.id),
      [byAdmin.id],
    );
  });

  it('refuses every floating IP mapping one fixed IP twice, and programs the rest of the router', async () => {
    const c = await smallCloud();
    // An admin may create router interface ports directly, which skips the overlap check of add_router_interface:
    // two subnets with the same CIDR on one router, and a VM on each holding 10.0.0.11.
    const { first, second, other } = await c.store.update((tx) => {
      const net = createNetwork(tx, c.ctx, { name: 'twin' });
      const sub = createSubnet(tx, c.ctx, { networkId: net.id, cidr: '10.0.0.0/24' });
      createPort(tx, c.ctx, {
        networkId: net.id,
        fixedIps: [{ ipAddress: '10.0.0.1' }],
        deviceOwner: DEVICE_OWNER_ROUTER_INTERFACE,
        deviceId: c.router,
      });
      const twin = createPort(tx, c.ctx, { networkId: net.id, fixedIps: [{ ipAddress: '10.0.0.11' }] });
      void sub;
      return {
        first: createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
        second: createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: twin.id }),
        other: createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm2 }),
      };
    });
    assert.equal(second.routerId, c.router);
    const dp = new FakeDataplane();
    const agent = fakeAgent(c.store, dp);
    await agent.start();
    await agent.sync();
    for (const id of [first.id, second.id]) {
      const fip = await fipOf(c, id);
      assert.equal(fip.status, 'ERROR', id);
      assert.match(fip.statusReason, /fixed IP 10\.0\.0\.11 is mapped twice on router/);
    }
    const kept = await fipOf(c, other.id);
    assert.equal(kept.status, 'ACTIVE');
    assert.deepEqual(
      [...dp.routers.get(`qrouter-1/${c.router}`)!.inbound],
      [[kept.floatingIpAddress, '10.0.0.12']],
    );
    await agent.stop();
  });
});
