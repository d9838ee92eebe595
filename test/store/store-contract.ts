/**
 * The store contract: every Store implementation (SQLite now, etcd later) runs these same cases.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createNetwork,
  createSubnet,
  ipKey,
  SfipError,
  subnetsOfNetworkKey,
  type Network,
} from '../../src/model/index.js';
import type { Store } from '../../src/store/index.js';
import { adminContext } from '../support/model-fixture.js';

export function runStoreContract(name: string, open: () => Promise<Store>): void {
  describe(`store contract: ${name}`, () => {
    const ctx = adminContext();

    it('puts, gets, lists and deletes inside transactions', async () => {
      const store = await open();
      const net = await store.update((tx) => createNetwork(tx, ctx, { name: 'a' }));
      assert.equal((await store.read((v) => v.get('network', net.id)))?.name, 'a');
      assert.deepEqual(await store.read((v) => v.list('network').map((n) => n.id)), [net.id]);
      await store.update((tx) => tx.delete('network', net.id));
      assert.equal(await store.read((v) => v.get('network', net.id)), undefined);
      await store.close();
    });

    it('commits all of a transaction or none of it', async () => {
      const store = await open();
      await assert.rejects(
        store.update((tx) => {
          createNetwork(tx, ctx, { name: 'half' });
          throw new SfipError('BadRequest', 400, 'stop halfway');
        }),
        /stop halfway/,
      );
      assert.deepEqual(await store.read((v) => v.list('network')), []);
      await store.close();
    });

    it('sees its own writes inside a transaction, and maintains secondary keys', async () => {
      const store = await open();
      const subnetIds = await store.update((tx) => {
        const net = createNetwork(tx, ctx, { name: 'n', external: true });
        const sub = createSubnet(tx, ctx, { networkId: net.id, cidr: '192.0.2.0/24' });
        assert.deepEqual(tx.lookup(subnetsOfNetworkKey(net.id)), [{ kind: 'subnet', id: sub.id }]);
        assert.equal(tx.find('subnet', subnetsOfNetworkKey(net.id))[0]?.cidr, '192.0.2.0/24');
        return { net: net.id, sub: sub.id };
      });
      await store.update((tx) => tx.delete('subnet', subnetIds.sub));
      assert.deepEqual(await store.read((v) => v.lookup(subnetsOfNetworkKey(subnetIds.net))), []);
      await store.close();
    });

    it('refuses a second holder of a unique key, leaving the first intact', async () => {
      const store = await open();
      const { fip } = await store.update((tx) => {
        const net = createNetwork(tx, ctx, { name: 'n', external: true });
        createSubnet(tx, ctx, { networkId: net.id, cidr: '192.0.2.0/24' });
        return { fip: { net } };
      });
      const base = fip.net;
      const doc = (id: string) =>
        ({
          ...base,
          id,
          floatingNetworkId: base.id,
          floatingSubnetId: 'x',
          floatingIpAddress: '192.0.2.9',
          portId: null,
          fixedIpAddress: null,
          routerId: null,
          status: 'DOWN',
          statusReason: '',
        }) as const;
      await store.update((tx) => tx.put('floatingip', doc('f1') as never));
      await assert.rejects(
        store.update((tx) => tx.put('floatingip', doc('f2') as never)),
        (e: unknown) => e instanceof SfipError && e.status === 409,
      );
      assert.deepEqual(await store.read((v) => v.lookup(ipKey(base.id, '192.0.2.9'))), [
        { kind: 'floatingip', id: 'f1' },
      ]);
      await store.close();
    });

    it('feeds changes in commit order and resumes from a sequence number', async () => {
      const store = await open();
      const start = (await store.changesSince(0)).latest;
      let notified = 0;
      const off = store.onChange(() => notified++);
      const a = await store.update((tx) => createNetwork(tx, ctx, { name: 'a' }));
      const b = await store.update((tx) => createNetwork(tx, ctx, { name: 'b' }));
      await store.update((tx) => tx.delete('network', a.id));
      off();
      const all = await store.changesSince(start);
      assert.equal(all.truncated, false);
      assert.deepEqual(
        all.changes.map((c) => [c.kind, c.id, c.op]),
        [
          ['network', a.id, 'put'],
          ['network', b.id, 'put'],
          ['network', a.id, 'delete'],
        ],
      );
      const resumed = await store.changesSince(all.changes[1]!.seq);
      assert.deepEqual(
        resumed.changes.map((c) => c.op),
        ['delete'],
      );
      assert.equal(resumed.latest, all.changes[2]!.seq);
      assert.ok(notified >= 3);
      await store.close();
    });

    it('does not record a change for a read or a failed write', async () => {
      const store = await open();
      const before = (await store.changesSince(0)).latest;
      await store.read((v) => v.list('network'));
      await assert.rejects(
        store.update(() => {
          throw new Error('nope');
        }),
      );
      assert.equal((await store.changesSince(0)).latest, before);
      await store.close();
    });

    it('round-trips documents exactly', async () => {
      const store = await open();
      const net: Network = await store.update((tx) =>
        createNetwork(tx, ctx, { name: 'ünïcode ✓', description: 'x'.repeat(255), tags: ['a', 'b'] }),
      );
      assert.deepEqual(await store.read((v) => v.get('network', net.id)), net);
      await store.close();
    });
  });
}
