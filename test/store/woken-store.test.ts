import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WokenStore } from '../../src/daemon/woken-store.js';
import { createNetwork } from '../../src/model/index.js';
import { SqliteStore } from '../../src/store/index.js';
import { adminContext } from '../support/model-fixture.js';

describe('WokenStore (the agent store in the primary when API workers write)', () => {
  it("fires onChange for this process's commits and for wakes from workers, until unsubscribed", async () => {
    const inner = new SqliteStore({ path: ':memory:' });
    const store = new WokenStore(inner);
    let calls = 0;
    const off = store.onChange(() => calls++);
    store.wake();
    assert.equal(calls, 1);
    await store.update((tx) => createNetwork(tx, adminContext(), { name: 'n1' }));
    assert.equal(calls, 2);
    assert.equal((await store.changesSince(0)).changes.length, 1);
    off();
    store.wake();
    assert.equal(calls, 2);
    await store.close();
  });
});
