/**
 * What the agent's status reports cost the store and the agent's own feed reader at a converge: every floating IP
 * of a populated state directory marked ACTIVE in chunks of STATUS_CHUNK, then the feed followed as the agent
 * follows it. Once through `Store.update` + setFloatingIpStatus (the old path, read back in full by the agent)
 * and once through `Store.updateStatuses` (status-only changes, skipped unread). Each on its own copy of the
 * state. Prints wall and CPU milliseconds of this process (the store is in-process): on a shared machine the
 * CPU time is the steadier figure.
 * `node --import tsx bench/control/status-writes.ts --from-state DIR` (DIR from converge-profile --save-state).
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { STATUS_CHUNK, writeStatuses, type StatusEntry } from '../../src/agent/status-writer.js';
import { setFloatingIpStatus, type Context } from '../../src/model/index.js';
import { openStore, type Store } from '../../src/store/index.js';

const { values } = parseArgs({ options: { 'from-state': { type: 'string' } } });
const source = values['from-state'];
if (!source)
  throw new Error('--from-state DIR is required (a state directory from converge-profile --save-state)');

const ctx: Context = {
  projectId: 'bench',
  isAdmin: true,
  now: () => new Date().toISOString(),
  newId: () => 'unused',
};

type Path = 'update' | 'updateStatuses';

const writers: Record<Path, (store: Store, chunk: readonly StatusEntry[]) => Promise<unknown>> = {
  update: (store, chunk) =>
    store.update((tx) => {
      for (const { fip, status, reason } of chunk) setFloatingIpStatus(tx, ctx, fip.id, fip, status, reason);
    }),
  updateStatuses: (store, chunk) => writeStatuses(store, ctx, chunk),
};

/** The agent's readChanges: every floating IP change read back, unless it is status-only. */
async function followFeed(store: Store, since: number): Promise<number> {
  let read = 0;
  for (let seq = since; ;) {
    const batch = await store.changesSince(seq);
    if (batch.changes.length === 0) return read;
    seq = batch.changes.at(-1)!.seq;
    const ids = batch.changes.filter((c) => c.kind === 'floatingip' && !c.statusOnly).map((c) => c.id);
    read += (await store.read((view) => ids.map((id) => view.get('floatingip', id)))).length;
  }
}

async function measure<T>(fn: () => Promise<T>): Promise<{ value: T; wallMs: number; cpuMs: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await fn();
  const cpu = process.cpuUsage(cpu0);
  return { value, wallMs: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000 };
}

for (const path of ['update', 'updateStatuses'] as const) {
  const dir = mkdtempSync(join(tmpdir(), 'sfip-status-writes-'));
  try {
    cpSync(source, dir, { recursive: true });
    const store = openStore(undefined, dir);
    const fips = await store.read((view) => view.list('floatingip'));
    const since = (await store.changesSince(Number.MAX_SAFE_INTEGER, 0)).latest;
    const entries = fips.map((fip) => ({ fip, status: 'ACTIVE' as const, reason: '' }));
    const write = await measure(async () => {
      for (let start = 0; start < entries.length; start += STATUS_CHUNK)
        await writers[path](store, entries.slice(start, start + STATUS_CHUNK));
    });
    const follow = await measure(() => followFeed(store, since));
    await store.close();
    console.log(
      `${path}: ${fips.length} statuses written in ${write.wallMs.toFixed(0)} ms (CPU ${write.cpuMs.toFixed(0)} ms); ` +
        `agent feed follow read ${follow.value} back in ${follow.wallMs.toFixed(0)} ms (CPU ${follow.cpuMs.toFixed(0)} ms); ` +
        `load ${loadavg()[0]!.toFixed(2)}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
