/**
 * Reading a big pinned map back (a resync of 100,000 floating IPs reads several) lets the event loop run between
 * batch syscalls, and still returns every entry; writes go in whole-buffer batches (batch-syscalls.ts), and a
 * full map names the entry that did not fit. Needs root and bpffs; the maps are pinned under a folder of this
 * test's own, removed at the end.
 */
import assert from 'node:assert/strict';
import { mkdir, rm } from 'node:fs/promises';
import { after, describe, it } from 'node:test';
import {
  ADDRESS,
  changeAddressMap,
  changeMap,
  MAC_VALUE,
  openPinnedMap,
  readAddressMap,
  readMap,
} from '../../src/dataplane/ebpf/maps.js';
import { addressBytes, macBytes } from '../../src/dataplane/ebpf/values.js';
import { run } from '../../src/exec/run.js';
import { ipv4FromUint32 } from '../../src/model/index.js';

const dir = `/sys/fs/bpf/sfip-mapread-${process.pid}`;
const path = `${dir}/fip2fixed`;
/** A hash map pinned at `path` with 4-byte keys (no preallocation, as the programs' maps). */
async function hashMap(path: string, valueSize: number, entries: number, name: string) {
  await mkdir(dir, { recursive: true });
  await run('bpftool', [
    ...['map', 'create', path, 'type', 'hash', 'key', '4', 'value', String(valueSize)],
    ...['entries', String(entries), 'name', name, 'flags', '1'],
  ]);
  return openPinnedMap(path)!;
}

/** Over two batches of the read (8,192 entries per syscall). */
const ENTRIES = 20_000;

describe('eBPF map read', () => {
  after(() => rm(dir, { recursive: true, force: true }));

  it('yields to the event loop between batches and reads every entry', async () => {
    const map = await hashMap(path, 4, 32768, 'mapread');
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

  it('writes MACs in one batch and reads them back as lower-case text', async () => {
    const macPath = `${dir}/fixed_macs`;
    const map = await hashMap(macPath, 8, 1024, 'macread');
    try {
      const set: [string, string][] = [
        ['10.0.0.1', 'FA:16:3E:0A:B0:FF'],
        ['10.0.0.2', '02:00:00:00:00:01'],
      ];
      changeMap(map, { remove: [], set }, (k, v) => `${k} ${v}`, ADDRESS, MAC_VALUE);
      const read = await readMap(map, ADDRESS, MAC_VALUE);
      assert.deepEqual([...read].sort(), [
        ['10.0.0.1', 'fa:16:3e:0a:b0:ff'],
        ['10.0.0.2', '02:00:00:00:00:01'],
      ]);
    } finally {
      map.close();
    }
  });

  it('names the first entry that does not fit a full map, and keeps the ones before it', async () => {
    const smallPath = `${dir}/small`;
    const map = await hashMap(smallPath, 4, 16, 'mapfull');
    try {
      const pairs = Array.from(
        { length: 20 },
        (_, i) => [ipv4FromUint32(0xc6120000 + i), ipv4FromUint32(0x0a000000 + i)] as [string, string],
      );
      assert.throws(
        () => changeAddressMap(map, { remove: [], set: pairs }, (k, v) => `Floating IP ${k} (fixed IP ${v})`),
        /Floating IP 198\.18\.0\.16 \(fixed IP 10\.0\.0\.16\) does not fit: BPF map .*small is full \(16 entries\)/,
      );
      const read = await readAddressMap(map);
      assert.equal(read.size, 16);
      assert.equal(read.get('198.18.0.15'), '10.0.0.15');
    } finally {
      map.close();
    }
  });
});

describe('eBPF map values', () => {
  it('encodes addresses and MACs, and refuses anything else naming it', () => {
    assert.deepEqual([...addressBytes('10.1.255.0')], [10, 1, 255, 0]);
    assert.deepEqual([...macBytes('FA:16:3e:0a:b0:ff')], [0xfa, 0x16, 0x3e, 0x0a, 0xb0, 0xff, 0, 0]);
    for (const bad of [
      '1.2.3',
      '1.2.3.4.5',
      '1.2.3.256',
      '1..2.3',
      '',
      '1.2.3.4 ',
      'a.b.c.d',
      '1.2.3.0001',
    ]) {
      assert.throws(() => addressBytes(bad), { message: `'${bad}' is not a dotted-quad IPv4 address` });
    }
    for (const bad of ['fa:16:3e:0a:b0', 'fa-16-3e-0a-b0-ff', 'fa:16:3e:0a:b0:fg', 'fa:16:3e:0a:b0:f ']) {
      assert.throws(() => macBytes(bad), { message: `'${bad}' is not a MAC address` });
    }
  });
});
