/**
 * The store contract: every Store implementation (SQLite now, etcd later) runs these same cases.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createFloatingIp,
  createNetwork,
  createQosPolicy,
  createQosRule,
  createSubnet,
  deleteQosPolicy,
  fipsOfQosPolicyKey,
  updateFloatingIp,
  fipOfRouterKey,
  fipsOfNetworkKey,
  ipKey,
  quotaTx,
  quotaUsage,
  quotaUsageKey,
  setQuota,
  SfipError,
  subnetsOfNetworkKey,
  applyStatusPatch,
  floatingIpStatusPatch,
  parseIPv4,
  type FloatingIp,
  type FloatingIpStatus,
  type FloatingIpStatusPatch,
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

    it('moves index keys with a rewritten document: old keys gone, new ones held and unique, kept ones intact', async () => {
      const store = await open();
      const net = await store.update((tx) => {
        const n = createNetwork(tx, ctx, { name: 'n', external: true });
        createSubnet(tx, ctx, { networkId: n.id, cidr: '192.0.2.0/24' });
        return n;
      });
      const doc = (id: string, address: string, routerId: string | null) =>
        ({
          ...net,
          id,
          floatingNetworkId: net.id,
          floatingSubnetId: 'x',
          floatingIpAddress: address,
          portId: null,
          fixedIpAddress: null,
          routerId,
          status: 'DOWN',
          statusReason: '',
        }) as never;
      const holders = (key: string) => store.read((v) => v.lookup(key).map((r) => r.id));
      await store.update((tx) => tx.put('floatingip', doc('f1', '192.0.2.9', 'r1')));
      await store.update((tx) => tx.put('floatingip', doc('f2', '192.0.2.10', null)));
      // The same document again (a status write keeps every key), then one that changes two keys.
      await store.update((tx) => tx.put('floatingip', doc('f1', '192.0.2.9', 'r1')));
      assert.deepEqual(await holders(ipKey(net.id, '192.0.2.9')), ['f1']);
      await store.update((tx) => tx.put('floatingip', doc('f1', '192.0.2.11', 'r2')));
      assert.deepEqual(await holders(ipKey(net.id, '192.0.2.9')), []);
      assert.deepEqual(await holders(ipKey(net.id, '192.0.2.11')), ['f1']);
      assert.deepEqual(await holders(fipOfRouterKey('r1')), []);
      assert.deepEqual(await holders(fipOfRouterKey('r2')), ['f1']);
      assert.deepEqual((await holders(fipsOfNetworkKey(net.id))).sort(), ['f1', 'f2']);
      // A key taken by a rewrite is unique like one taken at creation, and the refused write changes nothing.
      await assert.rejects(
        store.update((tx) => tx.put('floatingip', doc('f2', '192.0.2.11', null))),
        (e: unknown) => e instanceof SfipError && e.status === 409,
      );
      assert.deepEqual(await holders(ipKey(net.id, '192.0.2.10')), ['f2']);
      // The address f1 gave up is free for another.
      await store.update((tx) => tx.put('floatingip', doc('f2', '192.0.2.9', null)));
      assert.deepEqual(await holders(ipKey(net.id, '192.0.2.9')), ['f2']);
      assert.deepEqual(await holders(ipKey(net.id, '192.0.2.10')), []);
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

    it('keeps QoS policies with their rules, and the floating IPs using one under its index key', async () => {
      const store = await open();
      const start = (await store.changesSince(0)).latest;
      const { policy, fip } = await store.update((tx) => {
        const net = createNetwork(tx, ctx, { name: 'pub', external: true });
        createSubnet(tx, ctx, { networkId: net.id, cidr: '203.0.113.0/24' });
        const created = createQosPolicy(tx, ctx, { name: 'gold' });
        createQosRule(tx, ctx, created.id, 'bandwidth_limit', { max: 1000, direction: 'ingress' });
        const floating = createFloatingIp(tx, ctx, { floatingNetworkId: net.id, qosPolicyId: created.id });
        return { policy: created, fip: floating };
      });
      const stored = await store.read((v) => v.get('qospolicy', policy.id));
      assert.deepEqual(
        stored?.rules.map((r) => [r.type, r.max, r.direction]),
        [['bandwidth_limit', 1000, 'ingress']],
      );
      assert.deepEqual(await store.read((v) => v.lookup(fipsOfQosPolicyKey(policy.id))), [
        { kind: 'floatingip', id: fip.id },
      ]);
      await assert.rejects(
        store.update((tx) => deleteQosPolicy(tx, ctx, policy.id)),
        (e: unknown) => e instanceof SfipError && e.type === 'QosPolicyInUse',
      );
      await store.update((tx) => updateFloatingIp(tx, ctx, fip.id, { qosPolicyId: null }));
      assert.deepEqual(await store.read((v) => v.lookup(fipsOfQosPolicyKey(policy.id))), []);
      await store.update((tx) => deleteQosPolicy(tx, ctx, policy.id));
      assert.equal(await store.read((v) => v.get('qospolicy', policy.id)), undefined);
      const kinds = (await store.changesSince(start)).changes
        .filter((c) => c.kind === 'qospolicy')
        .map((c) => c.op);
      // One transaction may record its puts of one resource once (etcd) or each time (SQLite).
      assert.deepEqual([kinds[0], kinds.at(-1)], ['put', 'delete']);
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

    it('pages a kind in id order with range, after a marker, either way, and by index key', async () => {
      const store = await open();
      const ids = await store.update((tx) => {
        const nets = Array.from({ length: 5 }, (_, i) =>
          createNetwork(tx, ctx, { name: `n${i}`, external: i < 2 }),
        );
        createSubnet(tx, ctx, { networkId: nets[0]!.id, cidr: '192.0.2.0/25' });
        createSubnet(tx, ctx, { networkId: nets[0]!.id, cidr: '192.0.2.128/25' });
        return nets.map((n) => n.id).sort();
      });
      const range = (options: { limit: number; after?: string; descending?: boolean; key?: string }) =>
        store.read((v) => v.range('network', options).map((n) => n.id));
      assert.deepEqual(await range({ limit: 2 }), ids.slice(0, 2));
      assert.deepEqual(await range({ limit: 2, after: ids[1] }), ids.slice(2, 4));
      assert.deepEqual(await range({ limit: 10, after: ids[3] }), ids.slice(4));
      assert.deepEqual(await range({ limit: 2, descending: true }), [ids[4], ids[3]]);
      assert.deepEqual(await range({ limit: 2, descending: true, after: ids[3] }), [ids[2], ids[1]]);
      const subnets = await store.read((v) => v.list('subnet'));
      const byNetwork = await store.read((v) =>
        v.range('subnet', { limit: 10, key: subnetsOfNetworkKey(subnets[0]!.networkId) }).map((s) => s.id),
      );
      assert.deepEqual(byNetwork, subnets.map((s) => s.id).sort());
      await store.close();
    });

    it('keeps API tokens outside the resources and the change feed', async () => {
      const store = await open();
      const before = (await store.changesSince(0)).latest;
      const record = {
        id: 'tok1',
        secretHash: 'a'.repeat(64),
        projectId: 'p1',
        isAdmin: false,
        description: 'ci',
        createdAt: '2026-01-01T00:00:00.000Z',
        expiresAt: null,
      };
      await store.tokens.addToken(record);
      await assert.rejects(store.tokens.addToken(record), 'a token id is never reused');
      assert.deepEqual(await store.tokens.getToken('tok1'), record);
      assert.deepEqual(await store.tokens.listTokens(), [record]);
      assert.equal((await store.changesSince(0)).latest, before, 'tokens are not resources');
      assert.equal(await store.tokens.revokeToken('tok1'), true);
      assert.equal(await store.tokens.revokeToken('tok1'), false);
      assert.equal(await store.tokens.getToken('tok1'), undefined);
      await store.close();
    });

    it('counts the holders of an index key, seeing its own writes inside a transaction', async () => {
      const store = await open();
      const project = { ...adminContext('counted'), isAdmin: false };
      const key = quotaUsageKey('network', 'counted');
      const ids = await store.update((tx) => {
        const made = [1, 2, 3].map((i) => createNetwork(tx, project, { name: `n${i}` }).id);
        assert.equal(tx.count(key), 3);
        tx.delete('network', made[0]!);
        assert.equal(tx.count(key), 2);
        return made;
      });
      assert.equal(await store.read((v) => v.count(key)), 2);
      assert.equal(await store.read((v) => v.count(quotaUsageKey('network', 'nobody'))), 0);
      await store.update((tx) => tx.delete('network', ids[1]!));
      assert.equal(await store.read((v) => v.count(key)), 1);
      await store.close();
    });

    it('never lets concurrent creates pass a project quota, and changes nothing for a refused one', async () => {
      const store = await open();
      const project = { ...adminContext('limited'), isAdmin: false };
      await store.update((tx) => setQuota(tx, ctx, 'limited', { network: 5 }));
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) =>
          store.update((tx) => createNetwork(quotaTx(tx, project), project, { name: `n${i}` })),
        ),
      );
      const refused = results.filter((r) => r.status === 'rejected');
      assert.equal(results.length - refused.length, 5);
      for (const r of refused) {
        assert.equal(((r as PromiseRejectedResult).reason as SfipError).type, 'OverQuota');
      }
      assert.equal(
        await store.read((v) => v.list('network').filter((n) => n.projectId === 'limited').length),
        5,
      );
      assert.equal((await store.read((v) => quotaUsage(v, 'limited'))).network, 5);
      // An admin's creates are not limited, and count as the project's usage.
      await store.update((tx) =>
        createNetwork(quotaTx(tx, ctx), ctx, { name: 'by-admin', projectId: 'limited' }),
      );
      assert.equal((await store.read((v) => quotaUsage(v, 'limited'))).network, 6);
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

    describe('updateStatuses', () => {
      /** Three unassociated floating IPs on one external network. */
      const threeFloatingIps = async (store: Store) =>
        store.update((tx) => {
          const net = createNetwork(tx, ctx, { name: 'pub', external: true });
          createSubnet(tx, ctx, { networkId: net.id, cidr: '203.0.113.0/24' });
          const fips = [0, 1, 2].map(() => createFloatingIp(tx, ctx, { floatingNetworkId: net.id }));
          return { net, fips };
        });

      const at = '2026-12-06T01:00:00.000Z';
      const patch = (fip: FloatingIp, status: FloatingIpStatus, reason = '') =>
        floatingIpStatusPatch(fip, status, reason);

      it('writes the model revision whole, keeps index keys, and feeds status-only changes', async () => {
        const store = await open();
        const { net, fips } = await threeFloatingIps(store);
        const [a, b, c] = fips as [FloatingIp, FloatingIp, FloatingIp];
        const start = (await store.changesSince(0)).latest;
        // c has this status already: nothing to write.
        const patches = [
          patch(a, 'ACTIVE'),
          { ...patch(a, 'ACTIVE'), id: 'no-such-id' },
          patch(b, 'ACTIVE'),
          patch(c, 'DOWN'),
        ];
        const written = await store.updateStatuses('floatingip', patches, at);
        assert.equal(written, 2);
        const [storedA, storedB, storedC] = await store.read((v) =>
          [a, b, c].map((f) => v.get('floatingip', f.id)),
        );
        assert.deepEqual(
          [storedA, storedB],
          [applyStatusPatch(a, patches[0]!, at), applyStatusPatch(b, patches[2]!, at)],
          'the documents as the model builds them',
        );
        assert.deepEqual(storedC, c);
        const { status, statusReason, updatedAt, revisionNumber, ...rest } = storedA!;
        const { status: _s, statusReason: _r, updatedAt: _u, revisionNumber: _n, ...restBefore } = a;
        assert.deepEqual(
          [status, statusReason, updatedAt, revisionNumber],
          ['ACTIVE', '', at, a.revisionNumber + 1],
        );
        assert.deepEqual(rest, restBefore, 'nothing else moved');
        assert.deepEqual(
          (await store.read((v) => v.lookup(fipsOfNetworkKey(net.id)))).map((r) => r.id).sort(),
          [a.id, b.id, c.id].sort(),
          'index keys kept',
        );
        const feed = (await store.changesSince(start)).changes;
        assert.deepEqual(
          feed.map((ch) => [ch.kind, ch.id, ch.op, ch.statusOnly]).sort(),
          [
            ['floatingip', a.id, 'put', true],
            ['floatingip', b.id, 'put', true],
          ].sort(),
        );
        // An ordinary write of the same resource afterwards is not status-only.
        await store.update((tx) => updateFloatingIp(tx, ctx, a.id, { description: 'x' }));
        const after = (await store.changesSince(feed.at(-1)!.seq)).changes;
        assert.deepEqual(
          after.map((ch) => [ch.id, ch.statusOnly]),
          [[a.id, undefined]],
        );
        await store.close();
      });

      it('stores exactly what the model rule builds, for every shape of document and patch', async () => {
        const store = await open();
        const { fips } = await threeFloatingIps(store);
        const [a, b, c] = fips as [FloatingIp, FloatingIp, FloatingIp];
        // An older document without statusReason (JSON drops the undefined field), one with a reason and a
        // router, and one as created: the rule must see absent, '' and a string as they are.
        const { statusReason: _dropped, ...withoutReason } = a;
        const older = withoutReason as FloatingIp;
        const routed: FloatingIp = {
          ...b,
          routerId: 'r-1',
          fixedIpAddress: parseIPv4('10.0.0.5'),
          status: 'ERROR',
          statusReason: 'ünïcode "quoted" \\ reason',
        };
        await store.update((tx) => {
          tx.put('floatingip', older);
          tx.put('floatingip', routed);
        });
        const stored = await store.read((v) => [a, b, c].map((f) => v.get('floatingip', f.id)!));
        assert.equal('statusReason' in stored[0]!, false, 'the older document has no statusReason');
        const cases: FloatingIpStatusPatch[] = [
          patch(older, 'DOWN'), // the status as it is, but a reason '' where none is: written
          patch(routed, 'ERROR', 'ünïcode "quoted" \\ reason'), // as it is: skipped
          { ...patch(routed, 'ACTIVE'), expect: { routerId: 'r-1', fixedIpAddress: null } }, // moved on
          { ...patch(routed, 'ACTIVE'), expect: { routerId: null, fixedIpAddress: '10.0.0.5' } }, // moved on
          patch(routed, 'ERROR', 'another'), // the reason alone differs: written
          patch(c, 'ERROR', ''), // the status alone differs: written
        ];
        for (const [i, p] of cases.entries()) {
          const fresh = await open();
          await fresh.update((tx) => stored.forEach((f) => tx.put('floatingip', f)));
          const current = stored.find((f) => f.id === p.id)!;
          const expected = applyStatusPatch(current, p, at);
          assert.equal(await fresh.updateStatuses('floatingip', [p], at), expected ? 1 : 0, `case ${i}`);
          const after = await fresh.read((v) => v.get('floatingip', p.id));
          assert.deepEqual(
            after,
            expected ?? current,
            `case ${i}: the model's revision, or the document as it was`,
          );
          await fresh.close();
        }
        assert.deepEqual(
          cases.map(
            (p) =>
              applyStatusPatch(
                stored.find((f) => f.id === p.id)!,
                p,
                at,
              ) !== undefined,
          ),
          [true, false, false, false, true, true],
          'the cases cover writes and skips',
        );
        await store.close();
      });

      it('lets a reader that skips status-only changes follow the feed without them, to its end', async () => {
        const store = await open();
        const { fips } = await threeFloatingIps(store);
        const [a, b, c] = fips as [FloatingIp, FloatingIp, FloatingIp];
        const start = (await store.changesSince(0)).latest;
        // Status-only changes around and between ordinary ones, the last change of the feed status-only.
        await store.updateStatuses('floatingip', [patch(a, 'ACTIVE'), patch(b, 'ACTIVE')], at);
        await store.update((tx) => updateFloatingIp(tx, ctx, a.id, { description: 'x' }));
        await store.updateStatuses('floatingip', [patch(c, 'ACTIVE')], at);
        await store.update((tx) => updateFloatingIp(tx, ctx, b.id, { description: 'y' }));
        await store.updateStatuses(
          'floatingip',
          [a, b, c].map((f) => patch(f, 'ERROR', 'gone')),
          at,
        );
        const all = (await store.changesSince(start)).changes;
        const latest = all.at(-1)!.seq;
        const wanted = all.filter((ch) => !ch.statusOnly).map((ch) => [ch.seq, ch.id]);
        assert.deepEqual(
          wanted.map(([, id]) => id),
          [a.id, b.id],
        );
        assert.equal(all.filter((ch) => ch.statusOnly).length, 6, 'every status write is on the feed');
        // As the agent reads: pages of one, going on after `through` (or after the last change without it).
        for (const limit of [1, 10]) {
          let seq = start;
          const seen: (string | number)[][] = [];
          for (let pages = 0; pages < 20; pages++) {
            const batch = await store.changesSince(seq, limit, { withoutStatusOnly: true });
            seen.push(...batch.changes.filter((ch) => !ch.statusOnly).map((ch) => [ch.seq, ch.id]));
            const next = Math.max(batch.changes.at(-1)?.seq ?? seq, batch.through ?? seq);
            if (batch.changes.length === 0 && next === seq) break;
            seq = next;
          }
          assert.deepEqual(seen, wanted, `every ordinary change once, in order (pages of ${limit})`);
          assert.equal(seq, latest, 'the reader ends at the end of the feed');
        }
        await store.close();
      });

      it('commits nothing when nothing is to be written', async () => {
        const store = await open();
        const { fips } = await threeFloatingIps(store);
        const before = (await store.changesSince(0)).latest;
        let notified = 0;
        const off = store.onChange(() => notified++);
        assert.equal(
          await store.updateStatuses(
            'floatingip',
            fips.map((f) => patch(f, 'DOWN')),
            at,
          ),
          0,
        );
        assert.equal(await store.updateStatuses('floatingip', [], at), 0);
        off();
        assert.equal((await store.changesSince(0)).latest, before);
        assert.equal(notified, 0);
        await store.close();
      });

      it('lets an id given twice see its first rewrite', async () => {
        const store = await open();
        const { fips } = await threeFloatingIps(store);
        const a = fips[0]!;
        await store.updateStatuses(
          'floatingip',
          [patch(a, 'ERROR', 'first'), patch(a, 'ERROR', 'second'), patch(a, 'ERROR', 'second')],
          at,
        );
        const stored = await store.read((v) => v.get('floatingip', a.id));
        assert.equal(stored?.statusReason, 'second');
        assert.equal(stored?.revisionNumber, a.revisionNumber + 2, 'the third found nothing to change');
        await store.close();
      });
    });
  });
}
