/**
 * The routed hot standby's router roles (--bgp-standby): a standby holds a router's translation without its
 * floating addresses and writes nothing to the store, deltas included; becoming the owner keeps the translation
 * (no rebuild, no mapping removed) and adds the addresses and the status; going back to standby takes the
 * addresses away again.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ReconcileOutcome } from '../../src/agent/router-reconciler.js';
import { FakeDataplane } from '../../src/dataplane/index.js';
import { createFloatingIp } from '../../src/model/index.js';
import { smallCloud } from '../support/model-fixture.js';
import { fakeAgent } from '../support/fake-agent.js';

describe('routed hot standby roles', () => {
  it('standby: translation only, no status; owner: addresses and status, translation kept; and back', async () => {
    const c = await smallCloud();
    const dp = new FakeDataplane();
    let role: 'owner' | 'standby' = 'standby';
    const agent = fakeAgent(c.store, dp, {
      ownsRouter: () => role === 'owner',
      standsBy: () => role === 'standby',
    });
    const outcomes: ReconcileOutcome[] = [];
    agent.on('reconciled', (o: ReconcileOutcome) => outcomes.push(o));
    const fip = await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
    );
    const routerBefore = await c.store.read((v) => v.get('router', c.router)!);
    await agent.start();
    const state = () => dp.routers.get(`qrouter-1/${c.router}`)!;
    const read = () =>
      c.store.read((v) => ({ fip: v.get('floatingip', fip.id)!, router: v.get('router', c.router)! }));

    assert.deepEqual([...state().inbound], [[fip.floatingIpAddress, '10.0.0.11']]);
    assert.deepEqual([...state().addresses], []);
    assert.equal(agent.standingBy(c.router), true);
    assert.equal(agent.programmedHere(c.router), false);
    let now = await read();
    assert.equal(now.fip.status, 'DOWN', 'a standby writes no floating IP status');
    assert.equal(now.router.revisionNumber, routerBefore.revisionNumber, 'nor the router status');

    // A delta keeps the standby current, still without addresses or status.
    const second = await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm2 }),
    );
    await agent.sync();
    assert.equal(state().inbound.get(second.floatingIpAddress), '10.0.0.12');
    assert.deepEqual([...state().addresses], []);
    assert.equal((await c.store.read((v) => v.get('floatingip', second.id)!)).status, 'DOWN');
    assert.ok(
      outcomes.some((o) => o.changeLatenciesMs !== undefined),
      'applied as a delta',
    );

    role = 'owner';
    outcomes.length = 0;
    agent.resyncAll('role-changed');
    await agent.whenIdle();
    assert.equal(state().inbound.size, 2);
    assert.deepEqual([...state().addresses].sort(), [fip.floatingIpAddress, second.floatingIpAddress].sort());
    assert.deepEqual(
      outcomes.map((o) => [o.error, o.rebuilt, o.removed]),
      [[undefined, false, 0]],
      'the takeover keeps the translation: no rebuild, no mapping removed',
    );
    assert.equal(agent.programmedHere(c.router), true);
    assert.equal(agent.standingBy(c.router), false);
    now = await read();
    assert.equal(now.fip.status, 'ACTIVE');

    role = 'standby';
    agent.resyncAll('role-changed');
    await agent.whenIdle();
    assert.equal(state().inbound.size, 2);
    assert.deepEqual([...state().addresses], [], 'back to standby: the floating addresses go');
    assert.equal(agent.standingBy(c.router), true);
    await agent.stop();
  });
});
