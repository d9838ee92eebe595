/**
 * What a full pass's status report costs the SQLite store: N associated floating IPs written ACTIVE in one
 * transaction, as the agent did before it wrote them 2,000 at a time (the sum is the same).
 *
 *   node --import tsx bench/store/status-write.ts [--fips 100000]
 *
 * Populates a temporary store through the model (bench/control/populate.ts), then times a list of every floating
 * IP, one get of each, and the status write. Not a test: the figures depend on the machine and its load.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setFloatingIpStatus, type FloatingIp } from '../../src/model/index.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { populateStore } from '../control/populate.js';
import { benchTopology } from '../topology.js';

const { values } = parseArgs({ options: { fips: { type: 'string', default: '100000' } } });
const count = Number(values.fips);
const dir = mkdtempSync(join(tmpdir(), 'sfip-status-write-'));
const t = benchTopology('sw', ['r']);
const timed = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
  const started = performance.now();
  const value = await fn();
  console.log(`${what}: ${(performance.now() - started).toFixed(0)} ms`);
  return value;
};
try {
  await timed(`populate ${count}`, () =>
    populateStore(dir, t, t.routers[0]!.namespace, 'nftables', count, 0),
  );
  const store = new SqliteStore({ path: join(dir, 'sfip.db') });
  const ctx = {
    projectId: 'bench',
    isAdmin: true,
    now: () => new Date().toISOString(),
    newId: () => randomUUID(),
    allocationHints: new Map(),
  };
  const fips = await timed('list every floating IP', () =>
    store.read((v) => v.list('floatingip') as FloatingIp[]),
  );
  await timed('get each', () =>
    store.read((v) => {
      for (const f of fips) v.get('floatingip', f.id);
    }),
  );
  await timed('status ACTIVE, one transaction', () =>
    store.update((tx) => {
      for (const f of fips) setFloatingIpStatus(tx, ctx, f.id, f, 'ACTIVE', '');
    }),
  );
  await store.close();
  console.log(`load average ${loadavg()[0]!.toFixed(1)}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
