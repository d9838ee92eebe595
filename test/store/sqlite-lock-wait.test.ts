/**
 * A group commit that cannot take the write lock tries again off the event loop until `lockWaitMs`, instead of
 * sleeping in SQLite's busy handler (which stops every API request meanwhile) or failing at once.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { createNetwork } from '../../src/model/index.js';
import { adminContext } from '../support/model-fixture.js';
import { SqliteStore } from '../../src/store/index.js';

const ctx = adminContext();

describe('SQLite store: waiting for the write lock', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sfip-lock-wait-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** A store and another connection holding its write lock, as a second process would. */
  function held(name: string, lockWaitMs: number) {
    const path = join(dir, `${name}.db`);
    const store = new SqliteStore({ path, busyTimeoutMs: 20, lockWaitMs });
    const other = new Database(path);
    other.exec('BEGIN IMMEDIATE');
    return { store, other };
  }

  it('commits once the holder lets go, and the event loop runs meanwhile', async () => {
    const { store, other } = held('released', 5_000);
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 5);
    setTimeout(() => other.exec('ROLLBACK'), 300);
    try {
      const made = await store.update((tx) => createNetwork(tx, ctx, { name: 'after-the-lock' }));
      const read = await store.read((v) => v.get('network', made.id));
      assert.equal(read?.name, 'after-the-lock');
      // Each attempt sleeps at most 20 ms in SQLite: a 5 ms timer fired many times in 300 ms.
      assert.ok(ticks >= 10, `the event loop ran ${ticks} times while the store waited for the lock`);
    } finally {
      clearInterval(ticker);
      other.close();
      await store.close();
    }
  });

  it('keeps queued updates in order behind the one that waits', async () => {
    const { store, other } = held('order', 5_000);
    setTimeout(() => other.exec('ROLLBACK'), 100);
    try {
      const first = store.update((tx) => createNetwork(tx, ctx, { name: 'first' }));
      await new Promise((resolve) => setTimeout(resolve, 50));
      const second = store.update((tx) => createNetwork(tx, ctx, { name: 'second' }));
      const [a, b] = await Promise.all([first, second]);
      const { changes } = await store.changesSince(0);
      assert.deepEqual(
        changes.map((c) => c.id),
        [a.id, b.id],
      );
    } finally {
      other.close();
      await store.close();
    }
  });

  it('fails with "locked", changing nothing, once the holder has kept it for lockWaitMs', async () => {
    const { store, other } = held('kept', 300);
    const started = performance.now();
    try {
      await assert.rejects(
        store.update((tx) => createNetwork(tx, ctx, { name: 'never' })),
        (e: Error) => e.message.includes('is locked by another process'),
      );
      assert.ok(performance.now() - started >= 300, 'it tried for lockWaitMs');
      other.exec('ROLLBACK');
      assert.deepEqual(await store.read((v) => v.list('network')), []);
    } finally {
      other.close();
      await store.close();
    }
  });
});
