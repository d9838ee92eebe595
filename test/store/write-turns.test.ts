/**
 * Write turns (write-turn-server.ts): the processes of one `sfip serve` take turns to write the SQLite store
 * instead of meeting on its write lock. Here two stores on one file stand for two processes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createNetwork } from '../../src/model/index.js';
import { adminContext } from '../support/model-fixture.js';
import { SqliteStore } from '../../src/store/index.js';
import { connectWriteTurns, type WriteTurns } from '../../src/store/sqlite/write-turn-client.js';
import { startWriteTurnServer } from '../../src/store/sqlite/write-turn-server.js';

const ctx = adminContext();

/** Whether `promise` settles within `ms`. */
const settles = (promise: Promise<unknown>, ms: number) =>
  Promise.race([promise.then(() => true), new Promise((r) => setTimeout(() => r(false), ms))]);

describe('SQLite store: write turns between processes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sfip-write-turns-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('grants one turn at a time, in the order asked', async () => {
    const server = await startWriteTurnServer(join(dir, 'order.sock'));
    const lost: Error[] = [];
    const [a, b, c] = [0, 1, 2].map(() => connectWriteTurns(server.path, (e) => lost.push(e))) as [
      WriteTurns,
      WriteTurns,
      WriteTurns,
    ];
    try {
      await a.take();
      const order: string[] = [];
      const bTurn = b.take().then(() => order.push('b'));
      await new Promise((r) => setTimeout(r, 20));
      const cTurn = c.take().then(() => order.push('c'));
      assert.equal(await settles(bTurn, 100), false, 'b waits while a holds the turn');
      a.end();
      assert.equal(await settles(bTurn, 1000), true);
      assert.equal(await settles(cTurn, 100), false, 'c waits while b holds the turn');
      b.end();
      await cTurn;
      c.end();
      assert.deepEqual(order, ['b', 'c']);
      assert.deepEqual(lost, []);
    } finally {
      for (const t of [a, b, c]) t.close();
      await server.stop();
    }
  });

  it('passes the turn on when its holder goes away (its process died mid-turn)', async () => {
    const server = await startWriteTurnServer(join(dir, 'died.sock'));
    const a = connectWriteTurns(server.path, () => undefined);
    const b = connectWriteTurns(server.path, () => undefined);
    try {
      await a.take();
      const bTurn = b.take();
      assert.equal(await settles(bTurn, 100), false);
      a.close();
      assert.equal(await settles(bTurn, 1000), true);
    } finally {
      b.close();
      await server.stop();
    }
  });

  it('commits every update of two stores taking turns, none lost or doubled', async () => {
    const server = await startWriteTurnServer(join(dir, 'stores.sock'));
    const path = join(dir, 'stores.db');
    const stores = [0, 1].map(() => new SqliteStore({ path, busyTimeoutMs: 20 }));
    for (const store of stores) store.useWriteTurns(connectWriteTurns(server.path, () => undefined));
    try {
      const made = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          stores[i % 2]!.update((tx) => createNetwork(tx, ctx, { name: `n${i}` })),
        ),
      );
      const names = await stores[0]!.read((v) => v.list('network').map((n) => n.name));
      assert.equal(new Set(made.map((n) => n.id)).size, 200);
      assert.deepEqual(new Set(names), new Set(made.map((n) => n.name)));
    } finally {
      for (const store of stores) await store.close();
      await server.stop();
    }
  });

  it('commits without its turn once a holder has kept it for lockWaitMs, and ends that turn when it comes', async () => {
    const server = await startWriteTurnServer(join(dir, 'stuck.sock'));
    const holder = connectWriteTurns(server.path, () => undefined);
    const store = new SqliteStore({ path: join(dir, 'stuck.db'), busyTimeoutMs: 20, lockWaitMs: 200 });
    store.useWriteTurns(connectWriteTurns(server.path, () => undefined));
    const other = connectWriteTurns(server.path, () => undefined);
    try {
      await holder.take();
      const started = performance.now();
      const made = await store.update((tx) => createNetwork(tx, ctx, { name: 'anyway' }));
      assert.ok(performance.now() - started >= 190, 'it waited lockWaitMs for its turn');
      assert.equal((await store.read((v) => v.get('network', made.id)))?.name, 'anyway');
      // The store's late turn is ended at once: the next process gets the turn after it.
      const otherTurn = other.take();
      holder.end();
      assert.equal(await settles(otherTurn, 1000), true);
      other.end();
    } finally {
      holder.close();
      other.close();
      await store.close();
      await server.stop();
    }
  });

  it('writes on without turns once the server is gone, and says so', async () => {
    const server = await startWriteTurnServer(join(dir, 'gone.sock'));
    const lost: Error[] = [];
    const store = new SqliteStore({ path: join(dir, 'gone.db'), busyTimeoutMs: 20 });
    store.useWriteTurns(connectWriteTurns(server.path, (e) => lost.push(e)));
    try {
      await store.update((tx) => createNetwork(tx, ctx, { name: 'before' }));
      await server.stop();
      const made = await store.update((tx) => createNetwork(tx, ctx, { name: 'after' }));
      assert.equal((await store.read((v) => v.get('network', made.id)))?.name, 'after');
      assert.equal(lost.length, 1);
    } finally {
      await store.close();
    }
  });
});
