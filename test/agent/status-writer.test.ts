/**
 * The agent's status writer: statuses reported by several passes within its window share one store transaction
 * (issue 15 item 3), each report settles once its transaction has committed, and the model's rule that a status
 * is not written for a floating IP that moved on since its pass still holds.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StatusWriter } from '../../src/agent/status-writer.js';
import { createFloatingIp, updateFloatingIp, type FloatingIp, type Tx } from '../../src/model/index.js';
import type { Store } from '../../src/store/index.js';
import { smallCloud, type SmallCloud } from '../support/model-fixture.js';

/** The store, counting the transactions asked of it; `failing` makes the next ones throw. */
function counted(store: Store): {
  store: Store;
  updates: () => number;
  fail: (on: boolean) => void;
  /** The ids of each status transaction, in the order they were given to the store. */
  written: string[][];
} {
  let updates = 0;
  const written: string[][] = [];
  let failing = false;
  const wrapped: Store = Object.create(store) as Store;
  wrapped.update = <T>(fn: (tx: Tx) => T) => {
    updates++;
    if (failing) return Promise.reject(new Error('disk full'));
    return store.update(fn);
  };
  wrapped.updateStatuses = (kind, patches, updatedAt) => {
    updates++;
    written.push(patches.map((p) => p.id));
    if (failing) return Promise.reject(new Error('disk full'));
    return store.updateStatuses(kind, patches, updatedAt);
  };
  return { store: wrapped, updates: () => updates, fail: (on) => (failing = on), written };
}

async function twoFloatingIps(c: SmallCloud): Promise<[FloatingIp, FloatingIp]> {
  return c.store.update((tx) => [
    createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
    createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm2 }),
  ]);
}

const statusOf = (c: SmallCloud, id: string) =>
  c.store.read((v) => [v.get('floatingip', id)!.status, v.get('floatingip', id)!.statusReason]);

describe('status writer', () => {
  it('writes the reports of several passes within its window in one transaction', async (t) => {
    const c = await smallCloud();
    const [a, b] = await twoFloatingIps(c);
    const s = counted(c.store);
    // The window's clock is the test's: on a loaded machine a real 5 ms wait can outlast a 20 ms window.
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const writer = new StatusWriter(s.store, c.ctx, 20);
    // Two passes (two routers' deltas, say) report a few milliseconds apart.
    const first = writer.write([{ fip: a, status: 'ACTIVE', reason: '' }]);
    t.mock.timers.tick(5);
    const second = writer.write([{ fip: b, status: 'ERROR', reason: 'refused by the kernel' }]);
    assert.equal(s.updates(), 0, 'nothing written before the window ends');
    t.mock.timers.tick(15);
    await Promise.all([first, second]);
    t.mock.timers.reset();
    assert.equal(s.updates(), 1, 'one transaction for both');
    assert.deepEqual(await statusOf(c, a.id), ['ACTIVE', '']);
    assert.deepEqual(await statusOf(c, b.id), ['ERROR', 'refused by the kernel']);
  });

  it('settles a report only once it is committed', async () => {
    const c = await smallCloud();
    const [a] = await twoFloatingIps(c);
    const writer = new StatusWriter(c.store, c.ctx, 10);
    let settled = false;
    const done = writer.write([{ fip: a, status: 'ACTIVE', reason: '' }]).then(() => (settled = true));
    assert.deepEqual(await statusOf(c, a.id), ['DOWN', ''], 'nothing written before the window ends');
    assert.equal(settled, false);
    await done;
    assert.deepEqual(await statusOf(c, a.id), ['ACTIVE', '']);
  });

  it('leaves a floating IP that moved on since its pass as it is', async () => {
    const c = await smallCloud();
    const [a] = await twoFloatingIps(c);
    // Disassociated after the pass read it: the ACTIVE of the old association must not be written.
    await c.store.update((tx) => updateFloatingIp(tx, c.ctx, a.id, { portId: null }));
    await new StatusWriter(c.store, c.ctx, 1).write([{ fip: a, status: 'ACTIVE', reason: '' }]);
    assert.deepEqual(await statusOf(c, a.id), ['DOWN', '']);
  });

  it('fails every report of a transaction that fails, and writes the next ones', async () => {
    const c = await smallCloud();
    const [a, b] = await twoFloatingIps(c);
    const s = counted(c.store);
    const writer = new StatusWriter(s.store, c.ctx, 5);
    s.fail(true);
    const results = await Promise.allSettled([
      writer.write([{ fip: a, status: 'ACTIVE', reason: '' }]),
      writer.write([{ fip: b, status: 'ACTIVE', reason: '' }]),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['rejected', 'rejected'],
    );
    s.fail(false);
    await writer.write([{ fip: b, status: 'ACTIVE', reason: '' }]);
    assert.deepEqual(await statusOf(c, a.id), ['DOWN', '']);
    assert.deepEqual(await statusOf(c, b.id), ['ACTIVE', '']);
  });

  it('writes in floating IP id order, whatever order the passes reported in', async () => {
    const c = await smallCloud();
    const fips = await twoFloatingIps(c);
    const s = counted(c.store);
    const writer = new StatusWriter(s.store, c.ctx, 5);
    const descending = [...fips].sort((x, y) => (x.id < y.id ? 1 : -1));
    await Promise.all(descending.map((fip) => writer.write([{ fip, status: 'ERROR', reason: fip.id }])));
    assert.deepEqual(s.written, [descending.map((f) => f.id).reverse()]);
    for (const { id } of fips) assert.deepEqual(await statusOf(c, id), ['ERROR', id]);
  });

  it('ends a floating IP reported twice in one window with its last report', async () => {
    const c = await smallCloud();
    const [a, b] = await twoFloatingIps(c);
    const writer = new StatusWriter(c.store, c.ctx, 5);
    await Promise.all([
      writer.write([{ fip: a, status: 'ACTIVE', reason: '' }]),
      writer.write([{ fip: b, status: 'ACTIVE', reason: '' }]),
      writer.write([{ fip: a, status: 'ERROR', reason: 'second report' }]),
      writer.write([{ fip: b, status: 'ERROR', reason: 'second report' }]),
      writer.write([{ fip: b, status: 'ACTIVE', reason: '' }]),
    ]);
    assert.deepEqual(await statusOf(c, a.id), ['ERROR', 'second report']);
    assert.deepEqual(await statusOf(c, b.id), ['ACTIVE', '']);
  });

  it('stamps every floating IP of one transaction with one updatedAt, read from the clock once', async () => {
    const c = await smallCloud();
    const [a, b] = await twoFloatingIps(c);
    let reads = 0;
    // The fixture's clock moves a second per read: a read per document would stamp these two apart.
    const ctx = { ...c.ctx, now: () => (reads++, c.ctx.now()) };
    await new StatusWriter(c.store, ctx).write([
      { fip: a, status: 'ACTIVE', reason: '' },
      { fip: b, status: 'ACTIVE', reason: '' },
    ]);
    const [ua, ub] = await c.store.read((v) => [a, b].map((f) => v.get('floatingip', f.id)!.updatedAt));
    assert.equal(reads, 1);
    assert.equal(ua, ub);
    assert.ok(ua! > a.updatedAt && ub! > b.updatedAt, 'both documents were rewritten');
  });

  it('writes nothing for an empty report', async () => {
    const c = await smallCloud();
    const s = counted(c.store);
    await new StatusWriter(s.store, c.ctx, 1).write([]);
    assert.equal(s.updates(), 0);
  });
});
