/**
 * The metrics' floating IP index follows the change feed: status-only changes (the agent's reports through
 * Store.updateStatuses), which the agent itself skips unread, still reach it, since `/metrics` and the dashboard
 * show statuses.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FloatingIpIndex, RELOAD_MIN_CHANGES } from '../../src/metrics/floating-ip-index.js';
import { createFloatingIp, updateFloatingIp, floatingIpStatusPatch } from '../../src/model/index.js';
import type { Store } from '../../src/store/index.js';
import { smallCloud } from '../support/model-fixture.js';

/** The store, counting the floating IPs its readers get one by one and the listings of all of them. */
function counting(store: Store): { store: Store; gets: () => number; lists: () => number } {
  let gets = 0;
  let lists = 0;
  const counted: Store = Object.create(store) as Store;
  Object.defineProperty(counted, 'read', {
    value: <T>(fn: Parameters<Store['read']>[0]) =>
      store.read(
        (view) =>
          fn({
            ...view,
            get: (kind, id) => {
              if (kind === 'floatingip') gets++;
              return view.get(kind, id);
            },
            list: (kind) => {
              if (kind === 'floatingip') lists++;
              return view.list(kind);
            },
            find: (kind, key) => view.find(kind, key),
            lookup: (key) => view.lookup(key),
            range: (kind, options) => view.range(kind, options),
            count: (key) => view.count(key),
          } as typeof view) as T,
      ),
  });
  return { store: counted, gets: () => gets, lists: () => lists };
}

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
    await c.store.updateStatuses(
      'floatingip',
      [floatingIpStatusPatch(fip, 'ERROR', 'refused by the kernel')],
      c.ctx.now(),
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

  it('lists again, instead of reading each, when more floating IPs changed than half of it (a converge)', async () => {
    const c = await smallCloud();
    const [a, b] = await c.store.update((tx) => [
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm2 }),
    ]);
    const counted = counting(c.store);
    const index = new FloatingIpIndex(counted.store, 'fake');
    await index.sync();
    assert.equal(counted.lists(), 1);
    const version = index.version(c.router);
    // More status changes than RELOAD_MIN_CHANGES, the last of each floating IP telling its final status.
    const writes = [];
    for (let i = 0; i <= RELOAD_MIN_CHANGES / 2; i++) {
      for (const [fip, last] of [
        [a!, 'ERROR'],
        [b!, 'ACTIVE'],
      ] as const) {
        const status = i === RELOAD_MIN_CHANGES / 2 ? last : i % 2 ? 'ACTIVE' : 'DOWN';
        writes.push(
          c.store.updateStatuses(
            'floatingip',
            [floatingIpStatusPatch(fip, status, `report ${i}`)],
            c.ctx.now(),
          ),
        );
      }
    }
    await Promise.all(writes);
    await index.sync();
    assert.deepEqual(
      [...index.floatingIps(c.router)].map((f) => [f.id, f.status, f.statusReason]).sort(),
      [
        [a!.id, 'ERROR', `report ${RELOAD_MIN_CHANGES / 2}`],
        [b!.id, 'ACTIVE', `report ${RELOAD_MIN_CHANGES / 2}`],
      ].sort(),
    );
    assert.deepEqual([counted.lists(), counted.gets()], [2, 0]);
    assert.notEqual(index.version(c.router), version);
    // A few changes later, each is read again by itself.
    await c.store.updateStatuses('floatingip', [floatingIpStatusPatch(a!, 'DOWN', 'one more')], c.ctx.now());
    await index.sync();
    assert.equal(index.floatingIps(c.router).find((f) => f.id === a!.id)?.statusReason, 'one more');
    assert.deepEqual([counted.lists(), counted.gets()], [2, 1]);
    await c.store.close();
  });
});
