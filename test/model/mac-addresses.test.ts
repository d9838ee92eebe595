import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createNetwork, createPort, createSubnet, MAC_PREFIX, SfipError } from '../../src/model/index.js';
import { SqliteStore } from '../../src/store/index.js';
import { adminContext } from '../support/model-fixture.js';

const MAC = /^fa:16:3e(:[0-9a-f]{2}){3}$/;

async function cloud() {
  const store = new SqliteStore({ path: ':memory:' });
  const ctx = adminContext();
  const net = await store.update((tx) => {
    const n = createNetwork(tx, ctx, { name: 'big' });
    createSubnet(tx, ctx, { networkId: n.id, cidr: '10.0.0.0/16' });
    return n;
  });
  return { store, ctx, net };
}

describe('MAC addresses', () => {
  it('10,000 ports made in a burst on one network have 10,000 distinct fa:16:3e MACs', async () => {
    const { store, ctx, net } = await cloud();
    const macs: string[] = [];
    // A burst: the same millisecond-ordered ids that once made every MAC the same (they came from a UUIDv7).
    for (let batch = 0; batch < 20; batch++) {
      const made = await store.update((tx) =>
        Array.from({ length: 500 }, () => createPort(tx, ctx, { networkId: net.id }).macAddress),
      );
      macs.push(...made);
    }
    assert.equal(macs.length, 10_000);
    assert.equal(new Set(macs).size, 10_000);
    assert.ok(
      macs.every((m) => MAC.test(m) && m.startsWith(MAC_PREFIX)),
      'every MAC under fa:16:3e',
    );
    await store.close();
  });

  it('redraws a colliding random MAC inside the creating transaction', async () => {
    const { store, ctx, net } = await cloud();
    const draws = ['fa:16:3e:00:00:01', 'fa:16:3e:00:00:01', 'fa:16:3e:00:00:01', 'fa:16:3e:00:00:02'];
    const scripted = { ...ctx, newMac: () => draws.shift()! };
    const a = await store.update((tx) => createPort(tx, scripted, { networkId: net.id }));
    const b = await store.update((tx) => createPort(tx, scripted, { networkId: net.id }));
    assert.equal(a.macAddress, 'fa:16:3e:00:00:01');
    assert.equal(b.macAddress, 'fa:16:3e:00:00:02', 'two collisions redrawn');
    // And gives up with a 409 rather than looping when every draw collides.
    const stuck = { ...ctx, newMac: () => 'fa:16:3e:00:00:01' };
    await assert.rejects(
      store.update((tx) => createPort(tx, stuck, { networkId: net.id })),
      (e: unknown) => e instanceof SfipError && e.status === 409 && e.type === 'MacAddressGenerationFailure',
    );
    await store.close();
  });

  it('refuses an explicit MAC already on the network with 409 MacAddressInUse; another network may hold it', async () => {
    const { store, ctx, net } = await cloud();
    await store.update((tx) => createPort(tx, ctx, { networkId: net.id, macAddress: 'FA:16:3E:AA:BB:CC' }));
    await assert.rejects(
      store.update((tx) => createPort(tx, ctx, { networkId: net.id, macAddress: 'fa:16:3e:aa:bb:cc' })),
      (e: unknown) =>
        e instanceof SfipError &&
        e.status === 409 &&
        e.type === 'MacAddressInUse' &&
        /fa:16:3e:aa:bb:cc/.test(e.message),
    );
    const other = await store.update((tx) => {
      const n = createNetwork(tx, ctx, { name: 'other' });
      createSubnet(tx, ctx, { networkId: n.id, cidr: '10.1.0.0/24' });
      return createPort(tx, ctx, { networkId: n.id, macAddress: 'fa:16:3e:aa:bb:cc' });
    });
    assert.equal(other.macAddress, 'fa:16:3e:aa:bb:cc');
    await store.close();
  });
});
