/**
 * The metrics' floating IP index follows the change feed: status-only changes (the agent's reports through
 * Store.updateStatuses), which the agent itself skips unread, still reach it, since `/metrics` and the dashboard
 * show statuses.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FloatingIpIndex } from '../../src/metrics/floating-ip-index.js';
import { createFloatingIp, updateFloatingIp, withFloatingIpStatus } from '../../src/model/index.js';
import { smallCloud } from '../support/model-fixture.js';

describe('floating IP index', () => {
  it('takes in status-only changes from the feed', async () => {
    const c = await smallCloud();
    const fip = await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
    );
    const index = new FloatingIpIndex(c.store, 'fake');
    await index.sync();
    assert.deepEqual(
      index.floatingIps(c.router).map((f) => [f.id, f.status]),
      [[fip.id, 'DOWN']],
    );
    const version = index.version(c.router);
    await c.store.updateStatuses('floatingip', [fip.id], (current) =>
      withFloatingIpStatus(c.ctx, current, fip, 'ERROR', 'refused by the kernel'),
    );
    assert.equal((await c.store.changesSince(0)).changes.at(-1)?.statusOnly, true);
    await index.sync();
    assert.deepEqual(
      index.floatingIps(c.router).map((f) => [f.id, f.status, f.statusReason]),
      [[fip.id, 'ERROR', 'refused by the kernel']],
    );
    assert.notEqual(index.version(c.router), version);
    await c.store.close();
  });

  it('drops a floating IP from its router once disassociated, and keeps the others', async () => {
    const c = await smallCloud();
    const [gone, kept] = await c.store.update((tx) => [
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm2 }),
    ]);
    const index = new FloatingIpIndex(c.store, 'fake');
    await index.sync();
    const version = index.version(c.router);
    await c.store.update((tx) => updateFloatingIp(tx, c.ctx, gone!.id, { portId: null }));
    await index.sync();
    assert.deepEqual(
      index.floatingIps(c.router).map((f) => f.id),
      [kept!.id],
    );
    assert.notEqual(index.version(c.router), version);
    await c.store.close();
  });

  it('lists a router’s floating IPs by address, not in the order they were made', async () => {
    const c = await smallCloud();
    // The public pool is 203.0.113.4-6.
    await c.store.update((tx) => {
      for (const [address, port] of [
        ['203.0.113.6', c.vm1],
        ['203.0.113.4', c.vm2],
        ['203.0.113.5', null],
      ] as const)
        createFloatingIp(tx, c.ctx, {
          floatingNetworkId: c.publicNet,
          floatingIpAddress: address,
          portId: port,
        });
    });
    const index = new FloatingIpIndex(c.store, 'fake');
    await index.sync();
    assert.deepEqual(
      index.floatingIps(c.router).map((f) => f.address),
      ['203.0.113.4', '203.0.113.6'],
    );
    await c.store.close();
  });
});
