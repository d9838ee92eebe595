/**
 * The etcd store against a real etcd server (Debian's etcd-server): the shared store contract, then what only a
 * shared remote store has to get right: replicas racing for addresses, a change feed that survives a partition
 * and a compaction, and an unreachable etcd at start.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildApi } from '../../src/api/index.js';
import { EtcdServer, freePort } from '../../src/lab/etcd-server.js';
import {
  createFloatingIp,
  createNetwork,
  createSubnet,
  quotaTx,
  quotaUsage,
  setQuota,
  SfipError,
  updateFloatingIp,
  updateNetwork,
  floatingIpStatusPatch,
} from '../../src/model/index.js';
import { connectStore, EtcdStore, parseEtcdSpec, StoreError, type Change } from '../../src/store/index.js';
import { adminContext } from '../support/model-fixture.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { runStoreContract } from './store-contract.js';

let server: EtcdServer;
let n = 0;
const newPrefix = () => `/te-${process.pid}-${n++}/`;
/**
 * Everything a test opens, closed after the file even when a test fails halfway: an etcd client left open keeps
 * reconnecting to the stopped server, and the file never exits.
 */
const opened = new Set<{ close(): Promise<unknown> }>();
const track = <T extends { close(): Promise<unknown> }>(thing: T): T => (opened.add(thing), thing);
const open = async (prefix = newPrefix(), endpoint = server.endpoint) => {
  const store = track(new EtcdStore({ endpoints: [`http://${endpoint}`], prefix }));
  await store.ready();
  return store;
};

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

before(async () => {
  server = await EtcdServer.start({ name: 'te-store' });
});
after(async () => {
  await Promise.all([...opened].map((thing) => thing.close().catch(() => undefined)));
  await server?.stop();
});

runStoreContract('etcd', () => open());

describe('etcd store', { timeout: 60_000 }, () => {
  const ctx = adminContext();

  async function pool(store: EtcdStore, start: string, end: string) {
    return store.update((tx) => {
      const network = createNetwork(tx, ctx, { name: 'pool', external: true });
      createSubnet(tx, ctx, {
        networkId: network.id,
        cidr: '198.51.100.0/24',
        allocationPools: [{ start, end }],
      });
      return network.id;
    });
  }

  it('never hands out an address twice when four replicas allocate from one pool at once', async () => {
    const prefix = newPrefix();
    const replicas = await Promise.all([0, 1, 2, 3].map(() => open(prefix)));
    const networkId = await pool(replicas[0]!, '198.51.100.10', '198.51.100.39');
    await waitFor('every replica to see the pool', async () =>
      (await Promise.all(replicas.map((r) => r.read((v) => v.get('network', networkId))))).every(Boolean)
        ? true
        : undefined,
    );
    const results = await Promise.all(
      replicas.map(async (store) => {
        const own = adminContext();
        const out: string[] = [];
        for (let i = 0; i < 10; i++) {
          try {
            out.push(
              (await store.update((tx) => createFloatingIp(tx, own, { floatingNetworkId: networkId })))
                .floatingIpAddress,
            );
          } catch (error) {
            if (error instanceof SfipError && error.type === 'ExternalIpAddressExhausted')
              out.push('EXHAUSTED');
            else throw error;
          }
        }
        return out;
      }),
    );
    const all = results.flat();
    const allocated = all.filter((a) => a !== 'EXHAUSTED');
    assert.equal(allocated.length, 30, 'exactly the pool size was handed out');
    assert.equal(new Set(allocated).size, 30, 'no address was handed out twice');
    assert.equal(all.length - allocated.length, 10, 'the rest were told the pool is exhausted');
    assert.equal(await replicas[0]!.read((v) => v.list('floatingip').length), 30);
    await Promise.all(replicas.map((r) => r.close()));
  });

  it('gives the last address of a pool to exactly one of two API replicas; the other gets ExternalIpAddressExhausted', async () => {
    const prefix = newPrefix();
    const [a, b] = [await open(prefix), await open(prefix)];
    const networkId = await pool(a, '198.51.100.50', '198.51.100.50');
    await waitFor('replica b to see the pool', () =>
      b.read((v) => (v.get('network', networkId) ? true : undefined)),
    );
    const apis = [
      await buildApi({ store: a, logger: false, auth: 'none' }),
      await buildApi({ store: b, logger: false, auth: 'none' }),
    ];
    const responses = await Promise.all(
      apis.map((app) =>
        app.inject({
          method: 'POST',
          url: '/v2.0/floatingips',
          payload: { floatingip: { floating_network_id: networkId } },
        }),
      ),
    );
    const codes = responses.map((r) => r.statusCode).sort();
    assert.deepEqual(codes, [201, 400], responses.map((r) => r.body).join('\n'));
    const loser = responses.find((r) => r.statusCode === 400)!.json() as { NeutronError: { type: string } };
    assert.equal(loser.NeutronError.type, 'ExternalIpAddressExhausted');
    const winner = responses.find((r) => r.statusCode === 201)!.json() as {
      floatingip: { floating_ip_address: string };
    };
    assert.equal(winner.floatingip.floating_ip_address, '198.51.100.50');
    for (const app of apis) await app.close();
    await a.close();
    await b.close();
  });

  it('never lets four replicas creating at once pass a project quota', async () => {
    const prefix = newPrefix();
    const replicas = await Promise.all([0, 1, 2, 3].map(() => open(prefix)));
    await replicas[0]!.update((tx) => setQuota(tx, ctx, 'racer', { network: 7 }));
    await waitFor('every replica to see the quota', async () =>
      (await Promise.all(replicas.map((r) => r.read((v) => v.get('quota', 'racer'))))).every(Boolean)
        ? true
        : undefined,
    );
    const project = { ...adminContext('racer'), isAdmin: false };
    const results = await Promise.allSettled(
      Array.from({ length: 40 }, (_, i) =>
        replicas[i % 4]!.update((tx) => createNetwork(quotaTx(tx, project), project, { name: `r${i}` })),
      ),
    );
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    assert.equal(results.length - refused.length, 7);
    assert.ok(
      refused.every((r) => (r.reason as SfipError).type === 'OverQuota'),
      String(refused[0]?.reason),
    );
    for (const replica of replicas) {
      await waitFor('the replica to see every network', async () =>
        (await replica.read((v) => quotaUsage(v, 'racer').network)) === 7 ? true : undefined,
      );
    }
    assert.equal(await replicas[1]!.read((v) => v.list('network').length), 7);
    await Promise.all(replicas.map((r) => r.close()));
  });

  it('refuses the same explicit address to two replicas at once with a conflict, keeping one', async () => {
    const prefix = newPrefix();
    const [a, b] = [await open(prefix), await open(prefix)];
    const networkId = await pool(a, '198.51.100.60', '198.51.100.70');
    await waitFor('replica b to see the pool', () =>
      b.read((v) => (v.get('network', networkId) ? true : undefined)),
    );
    const take = (store: EtcdStore) =>
      store
        .update((tx) =>
          createFloatingIp(tx, ctx, { floatingNetworkId: networkId, floatingIpAddress: '198.51.100.65' }),
        )
        .then(
          () => 'ok',
          (e: SfipError) => `${e.status} ${e.type}`,
        );
    const outcomes = (await Promise.all([take(a), take(b)])).sort();
    assert.deepEqual(outcomes, ['409 IpAddressAlreadyAllocated', 'ok']);
    assert.equal(await a.read((v) => v.list('floatingip').length), 1);
    await a.close();
    await b.close();
  });

  it('feeds another replica every change in commit order, and notifies it', async () => {
    const prefix = newPrefix();
    const [writer, reader] = [await open(prefix), await open(prefix)];
    const start = (await reader.changesSince(0, 0)).latest;
    let notified = 0;
    reader.onChange(() => notified++);
    const x = await writer.update((tx) => createNetwork(tx, ctx, { name: 'x' }));
    await writer.update((tx) => updateNetwork(tx, ctx, x.id, { name: 'x2' }));
    await writer.update((tx) => tx.delete('network', x.id));
    const batch = await waitFor('three changes', async () => {
      const b = await reader.changesSince(start);
      return b.changes.length >= 3 ? b : undefined;
    });
    assert.deepEqual(
      batch.changes.map((c) => c.op),
      ['put', 'put', 'delete'],
    );
    assert.ok(batch.changes[0]!.seq < batch.changes[1]!.seq && batch.changes[1]!.seq < batch.changes[2]!.seq);
    assert.ok(notified >= 1);
    await writer.close();
    await reader.close();
  });

  it("marks another replica's status-only writes statusOnly on its feed, and only those", async () => {
    const prefix = newPrefix();
    const [writer, reader] = [await open(prefix), await open(prefix)];
    const fip = await writer.update((tx) => {
      const net = createNetwork(tx, ctx, { name: 'pub', external: true });
      createSubnet(tx, ctx, { networkId: net.id, cidr: '198.51.100.0/24' });
      return createFloatingIp(tx, ctx, { floatingNetworkId: net.id });
    });
    const start = (await writer.changesSince(0, 0)).latest;
    await writer.updateStatuses('floatingip', [floatingIpStatusPatch(fip, 'ACTIVE', '')], ctx.now());
    await writer.update((tx) => updateFloatingIp(tx, ctx, fip.id, { description: 'd' }));
    const batch = await waitFor('two changes', async () => {
      const b = await reader.changesSince(start);
      return b.changes.length >= 2 ? b : undefined;
    });
    assert.deepEqual(
      batch.changes.map((c) => [c.id, c.statusOnly]),
      [
        [fip.id, true],
        [fip.id, undefined],
      ],
    );
    assert.equal((await reader.read((v) => v.get('floatingip', fip.id)))?.status, 'ACTIVE');
    await writer.close();
    await reader.close();
  });

  for (const compact of [false, true]) {
    it(
      compact
        ? 're-lists after a partition outlasted by a compaction: every change once, nothing lost, not truncated'
        : 'resumes its watch after a partition: every change once, at its own revision',
      async () => {
        const prefix = newPrefix();
        const proxy = track(await TcpProxy.start('127.0.0.1', Number(server.endpoint.split(':')[1])));
        const writer = await open(prefix);
        const reader = await open(prefix, proxy.endpoint);
        const [kept, renamed, removed] = await writer.update((tx) => [
          createNetwork(tx, ctx, { name: 'kept' }),
          createNetwork(tx, ctx, { name: 'renamed' }),
          createNetwork(tx, ctx, { name: 'removed' }),
        ]);
        await waitFor('the reader to see the networks', () =>
          reader.read((v) => (v.list('network').length === 3 ? true : undefined)),
        );
        const since = (await reader.changesSince(0, 0)).latest;
        proxy.cut();
        const added = await writer.update((tx) => createNetwork(tx, ctx, { name: 'added' }));
        await writer.update((tx) => updateNetwork(tx, ctx, renamed!.id, { name: 'renamed-2' }));
        await writer.update((tx) => updateNetwork(tx, ctx, renamed!.id, { name: 'renamed-3' }));
        await writer.update((tx) => tx.delete('network', removed!.id));
        if (compact) await writer.client.kv.compact({ revision: String(writer.revision), physical: true });
        proxy.heal();
        await waitFor(
          'the reader to catch up',
          () =>
            reader.read((v) =>
              v.get('network', added.id) && !v.get('network', removed!.id) ? true : undefined,
            ),
          15_000,
        );
        const batch = await reader.changesSince(since);
        assert.equal(batch.truncated, false);
        const seen = (c: Change) => `${c.op} ${c.id}`;
        const expected = compact
          ? // A re-list sees only the net effect: the two renames are one change.
            [`put ${added.id}`, `put ${renamed!.id}`, `delete ${removed!.id}`]
          : [`put ${added.id}`, `put ${renamed!.id}`, `put ${renamed!.id}`, `delete ${removed!.id}`];
        assert.deepEqual(batch.changes.map(seen).sort(), expected.sort());
        assert.ok(!batch.changes.some((c) => c.id === kept!.id), 'an unchanged resource is not reported');
        assert.equal(await reader.read((v) => v.get('network', renamed!.id)?.name), 'renamed-3');
        // And it keeps following the watch afterwards.
        const later = await writer.update((tx) => createNetwork(tx, ctx, { name: 'later' }));
        await waitFor('the reader to see a later change', () =>
          reader.read((v) => (v.get('network', later.id) ? true : undefined)),
        );
        await writer.close();
        await reader.close();
        await proxy.close();
      },
    );
  }

  it('never moves the change feed for a token write, however late the watch delivers it', async () => {
    // The contract checks `latest` right after a token write; this waits for the watch to have delivered it.
    const store = await open();
    const before = (await store.changesSince(0)).latest;
    await store.tokens.addToken({
      id: 'late-watch',
      secretHash: 'b'.repeat(64),
      projectId: 'p1',
      isAdmin: false,
      description: 'watch',
      createdAt: '2026-01-01T00:00:00.000Z',
      expiresAt: null,
    });
    const moved = await waitFor(
      'the feed to move',
      async () => ((await store.changesSince(0)).latest !== before ? true : undefined),
      2000,
    ).catch(() => false);
    assert.equal(moved, false, 'a token write moved the change feed');
    // A resource write afterwards is seen as the one change since then.
    await store.update((tx) => createNetwork(tx, ctx, { name: 'after-token' }));
    assert.deepEqual(
      (await store.changesSince(before)).changes.map((c) => c.kind),
      ['network'],
    );
    await store.close();
  });

  it('explains an unreachable etcd at start, naming it, after retrying with backoff', async () => {
    const port = await freePort();
    const warnings: string[] = [];
    const started = Date.now();
    await assert.rejects(
      connectStore(`etcd://127.0.0.1:${port}`, '/nonexistent', {
        connectTimeoutMs: 1500,
        log: { info: () => undefined, warn: (_f, m) => warnings.push(m) },
      }),
      (e: unknown) =>
        e instanceof SfipError &&
        e.message.includes(`127.0.0.1:${port}`) &&
        /Cannot reach etcd/.test(e.message) &&
        /Check that etcd runs/.test(e.message),
    );
    assert.ok(warnings.length >= 3, `retried (${warnings.length} warnings)`);
    assert.ok(warnings.every((w) => w.includes(`127.0.0.1:${port}`) && /retrying in \d+ ms/.test(w)));
    assert.ok(Date.now() - started >= 500, 'backed off between attempts');
  });

  it('connects once etcd comes up, when it was down at start', async () => {
    const late = await EtcdServer.start({ name: 'te-late' });
    opened.add({ close: () => late.stop() });
    await late.halt();
    const store = track(new EtcdStore({ endpoints: [`http://${late.endpoint}`], prefix: newPrefix() }));
    const ready = store.ready();
    await new Promise((r) => setTimeout(r, 500));
    await late.launch();
    await ready;
    await store.update((tx) => createNetwork(tx, ctx, { name: 'late' }));
    assert.equal(await store.read((v) => v.list('network').length), 1);
    await store.close();
    await late.stop();
  });

  it('rejects a malformed store spec, naming the bad part', () => {
    for (const [spec, part] of [
      ['etcd://', 'no host'],
      ['etcd://host', "'host' is not HOST:PORT"],
      ['etcd://127.0.0.1:99999', 'port 99999'],
      ['etcd://a;b:2379', "'a;b'"],
      ['etcd://127.0.0.1:2379/x y/', "'/x y/'"],
    ] as const) {
      assert.throws(
        () => parseEtcdSpec(spec),
        (e: unknown) => e instanceof StoreError && e.message.includes(spec) && e.message.includes(part),
        spec,
      );
    }
    assert.deepEqual(parseEtcdSpec('etcd://10.0.0.1:2379,etcd-b:2379/p/'), {
      endpoints: ['http://10.0.0.1:2379', 'http://etcd-b:2379'],
      prefix: '/p/',
    });
  });
});
