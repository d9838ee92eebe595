/**
 * Reading a big pinned map back (a resync of 100,000 floating IPs reads several) lets the event loop run between
 * batch syscalls, and still returns every entry. Needs root and bpffs; the map is pinned under a folder of this
 * test's own, removed at the end.
 */
import assert from 'node:assert/strict';
import { mkdir, rm } from 'node:fs/promises';
import { after, describe, it } from 'node:test';
import { changeAddressMap, openPinnedMap, readAddressMap } from '../../src/dataplane/ebpf/maps.js';
import { run } from '../../src/exec/run.js';
import { ipv4FromUint32 } from '../../src/model/index.js';

const dir = `/sys/fs/bpf/sfip-mapread-${process.pid}`;
const path = `${dir}/fip2fixed`;
/** Over two batches of the read (8,192 entries per syscall). */
const ENTRIES = 20_000;

describe('eBPF map read', () => {
  after(() => rm(dir, { recursive: true, force: true }));

  it('yields to the event loop between batches and reads every entry', async () => {
    await mkdir(dir, { recursive: true });
    await run('bpftool', [
      ...['map', 'create', path, 'type', 'hash', 'key', '4', 'value', '4'],
      ...['entries', '32768', 'name', 'mapread', 'flags', '1'],
    ]);
    const map = openPinnedMap(path)!;
    try {
      const pairs = Array.from(
        { length: ENTRIES },
        (_, i) => [ipv4FromUint32(0xc6120000 + i), ipv4FromUint32(0x0a000000 + i)] as [string, string],
      );
      changeAddressMap(map, { remove: [], set: pairs }, (k) => k);
      // Counts the event loop's turns while the read runs.
      let turns = 0;
      let counting = true;
      const tick = () => {
        if (!counting) return;
        turns++;
        setImmediate(tick);
      };
      setImmediate(tick);
      const read = await readAddressMap(map);
      counting = false;
      assert.equal(read.size, ENTRIES);
      assert.equal(read.get(pairs[12_345]![0]), pairs[12_345]![1]);
      assert.ok(turns >= 2, `the event loop ran ${turns} times during a read of ${ENTRIES} entries`);
    } finally {
      map.close();
    }
  });
});
