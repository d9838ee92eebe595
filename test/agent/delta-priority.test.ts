/**
 * With many routers, a round of full passes (the periodic resync, seconds each at scale) must not hold up an
 * association on another router: deltas go first, full passes never take the last worker, and a router's resync
 * that has not started gives way to its floating IP change.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeDataplane } from '../../src/dataplane/index.js';
import {
  addRouterInterface,
  createFloatingIp,
  createNetwork,
  createPort,
  createRouter,
  createSubnet,
  type Tx,
} from '../../src/model/index.js';
import { smallCloud } from '../support/model-fixture.js';
import { fakeAgent } from '../support/fake-agent.js';

describe('agent queue: deltas before full passes', () => {
  it('applies an association while every router’s resync is stuck reading the kernel', async () => {
    const c = await smallCloud();
    // Three more routers on the same external network, each with its own subnet and one VM port.
    const extra = await c.store.update((tx: Tx) =>
      [3, 7, 8].map((host, i) => {
        const net = createNetwork(tx, c.ctx, { name: `private-${i}` });
        const subnet = createSubnet(tx, c.ctx, { networkId: net.id, cidr: `10.${i + 1}.0.0/24` });
        const router = createRouter(tx, c.ctx, {
          name: `r${i + 2}`,
          namespace: `qrouter-${i + 2}`,
          gatewayDevice: `qg-${i + 2}`,
          externalGateway: {
            networkId: c.publicNet,
            externalFixedIps: [{ ipAddress: `203.0.113.${host}` }],
          },
        });
        addRouterInterface(tx, c.ctx, router.id, { subnetId: subnet.id });
        const port = createPort(tx, c.ctx, {
          networkId: net.id,
          fixedIps: [{ ipAddress: `10.${i + 1}.0.11` }],
        });
        return { router: router.id, port: port.id };
      }),
    );
    const dp = new FakeDataplane();
    const agent = fakeAgent(c.store, dp, {
      concurrency: 2,
    });
    await agent.start();
    assert.equal(dp.routers.size, 4, 'every router programmed');

    // Every kernel read now hangs until released: the resync round cannot finish.
    let release!: () => void;
    dp.readGate = new Promise<void>((r) => (release = r));
    const readsBefore = dp.reads;
    agent.resyncAll('resync');
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(dp.reads - readsBefore, 1, 'full passes leave one of the two workers free');

    const last = extra[2]!;
    const fip = await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: last.port }),
    );
    const statusOf = () => c.store.read((v) => v.get('floatingip', fip.id)!.status);
    const deadline = Date.now() + 3000;
    while ((await statusOf()) !== 'ACTIVE' && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    assert.equal(await statusOf(), 'ACTIVE', 'the association did not wait for the resync round');
    assert.deepEqual(
      [...(dp.routers.get(`qrouter-4/${last.router}`)?.inbound ?? [])],
      [[fip.floatingIpAddress, '10.3.0.11']],
    );
    assert.equal(dp.reads - readsBefore, 1, 'and it read nothing: a delta');

    // Released, the round completes, the deferred resync of that router included.
    release();
    dp.readGate = undefined;
    await agent.sync();
    assert.equal(dp.reads - readsBefore, 4, 'every router was resynced');
    await agent.stop();
  });
});
