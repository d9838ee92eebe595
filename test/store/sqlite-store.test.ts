import assert from 'node:assert/strict';
import { spawnProgram as spawn } from '../../src/exec/spawn.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import {
  createFloatingIp,
  createNetwork,
  createSubnet,
  updateFloatingIp,
  floatingIpStatusPatch,
} from '../../src/model/index.js';
import { SqliteStore, StoreError } from '../../src/store/index.js';
import { adminContext } from '../support/model-fixture.js';
import { runStoreContract } from './store-contract.js';

const dir = mkdtempSync(join(tmpdir(), 'sfip-store-'));
let n = 0;
after(() => rmSync(dir, { recursive: true, force: true }));

runStoreContract('sqlite', async () => new SqliteStore({ path: join(dir, `contract-${n++}.db`) }));

function runWorker(path: string, networkId: string, count: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(import.meta.dirname, '../support/allocate-worker.ts'),
        path,
        networkId,
        String(count),
      ],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.on('close', (code) =>
      code === 0 ? resolve(JSON.parse(out) as string[]) : reject(new Error(`worker exited ${code}`)),
    );
  });
}

describe('sqlite store', () => {
  it('never hands out an address twice when several processes allocate from one pool at once', async () => {
    const path = join(dir, 'race.db');
    const store = new SqliteStore({ path });
    const ctx = adminContext();
    const net = await store.update((tx) => {
      const network = createNetwork(tx, ctx, { name: 'pool', external: true });
      createSubnet(tx, ctx, {
        networkId: network.id,
        cidr: '198.51.100.0/24',
        allocationPools: [{ start: '198.51.100.10', end: '198.51.100.69' }],
      });
      return network;
    });
    const results = await Promise.all([0, 1, 2, 3].map(() => runWorker(path, net.id, 20)));
    const addresses = results.flat();
    const allocated = addresses.filter((a) => a !== 'EXHAUSTED');
    assert.equal(allocated.length, 60, 'exactly the pool size was handed out');
    assert.equal(new Set(allocated).size, 60, 'no address was handed out twice');
    assert.equal(
      addresses.filter((a) => a === 'EXHAUSTED').length,
      20,
      'the rest were told the pool is exhausted',
    );
    assert.equal(await store.read((v) => v.list('floatingip').length), 60);
    await store.close();
  });

  it('refuses a database written by a newer schema, naming the path, and leaves it untouched', async () => {
    const path = join(dir, 'newer.db');
    const raw = new Database(path);
    raw.pragma('user_version = 99');
    raw.close();
    assert.throws(
      () => new SqliteStore({ path }),
      (e: unknown) => e instanceof StoreError && e.message.includes(path) && e.message.includes('99'),
    );
    const check = new Database(path);
    assert.equal(check.pragma('user_version', { simple: true }), 99);
    check.close();
  });

  it('explains a database path it cannot create, naming it', async () => {
    // A directory that is really a file: creating the state directory must fail (even as root).
    const blocker = join(dir, 'not-a-directory');
    writeFileSync(blocker, '');
    const path = join(blocker, 'state', 'sfip.db');
    assert.throws(
      () => new SqliteStore({ path }),
      (e: unknown) =>
        e instanceof StoreError && e.message.includes(path) && e.message.includes('--state-dir'),
    );
  });

  it('keeps every acknowledged write across reopen', async () => {
    const path = join(dir, 'durable.db');
    const ctx = adminContext();
    const store = new SqliteStore({ path });
    const ids: string[] = [];
    for (let i = 0; i < 20; i++)
      ids.push((await store.update((tx) => createNetwork(tx, ctx, { name: `n${i}` }))).id);
    await store.close();
    const again = new SqliteStore({ path });
    assert.deepEqual((await again.read((v) => v.list('network').map((x) => x.id))).sort(), ids.sort());
    await again.close();
  });

  it('leaves status-only changes out of a feed read that asks so, and says it read to the end', async () => {
    const ctx = adminContext();
    const store = new SqliteStore({ path: join(dir, 'status-feed.db') });
    const fip = await store.update((tx) => {
      const net = createNetwork(tx, ctx, { name: 'pub', external: true });
      createSubnet(tx, ctx, { networkId: net.id, cidr: '203.0.113.0/24' });
      return createFloatingIp(tx, ctx, { floatingNetworkId: net.id });
    });
    const start = (await store.changesSince(0)).latest;
    const status = (to: 'ACTIVE' | 'DOWN') =>
      store.updateStatuses('floatingip', [floatingIpStatusPatch(fip, to, '')], ctx.now());
    await status('ACTIVE');
    await store.update((tx) => updateFloatingIp(tx, ctx, fip.id, { description: 'x' }));
    await status('DOWN');
    const all = await store.changesSince(start);
    assert.deepEqual(
      all.changes.map((c) => c.statusOnly ?? false),
      [true, false, true],
    );
    const batch = await store.changesSince(start, 10, { withoutStatusOnly: true });
    assert.deepEqual(
      batch.changes.map((c) => [c.id, c.statusOnly]),
      [[fip.id, undefined]],
    );
    assert.equal(batch.through, all.latest, 'past the status-only change after the last one returned');
    // A full page may stop short of the feed's end: it goes on after its last change only.
    const page = await store.changesSince(start, 1, { withoutStatusOnly: true });
    assert.equal(page.through, all.changes[1]!.seq);
    await store.close();
  });
});
