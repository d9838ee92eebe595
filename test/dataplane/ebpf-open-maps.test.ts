/**
 * The maps an apply wrote stay open for the router's next apply (open-maps.ts), but only while their pins are the
 * same: a generation rebuilt under the same name, or a pin replaced, gets the new map; a pin removed fails as
 * "missing"; another generation or `forget` closes what was held. Needs root and bpffs; the pins live under a folder
 * of this test's own, removed at the end.
 */
import assert from 'node:assert/strict';
import { mkdir, rm } from 'node:fs/promises';
import { after, describe, it } from 'node:test';
import { openPinnedMap, readAddressMap, writeValue } from '../../src/dataplane/ebpf/maps.js';
import { RouterMaps } from '../../src/dataplane/ebpf/open-maps.js';
import { generationPaths } from '../../src/dataplane/ebpf/paths.js';
import { addressBytes } from '../../src/dataplane/ebpf/values.js';
import { run } from '../../src/exec/run.js';

const routerDir = `/sys/fs/bpf/sfip-openmaps-${process.pid}`;

/** A generation folder with only fip2fixed pinned (the only map these cases write). */
async function generation(name: string): Promise<string> {
  const genDir = `${routerDir}/${name}`;
  await mkdir(genDir, { recursive: true });
  await run('bpftool', [
    ...['map', 'create', generationPaths(genDir).map('fip2fixed'), 'type', 'hash', 'key', '4', 'value', '4'],
    ...['entries', '16', 'name', 'fip2fixed', 'flags', '1'],
  ]);
  return genDir;
}

/** What the map pinned there now holds, read through a fresh fd. */
async function pinned(genDir: string): Promise<Map<string, string>> {
  const map = openPinnedMap(generationPaths(genDir).map('fip2fixed'))!;
  try {
    return await readAddressMap(map);
  } finally {
    map.close();
  }
}

function write(maps: RouterMaps, genDir: string, fip: string, fixed: string): number {
  const map = maps.forApply(routerDir, genDir).get('fip2fixed')!;
  writeValue(map, addressBytes(fip), addressBytes(fixed));
  return map.ref.fd;
}

describe('eBPF maps held open between applies', () => {
  after(() => rm(routerDir, { recursive: true, force: true }));

  it('reuses the fd while the pin is the same, and follows a pin replaced under the same name', async () => {
    const maps = new RouterMaps();
    const genDir = await generation('g000000000001');
    const fd = write(maps, genDir, '203.0.113.1', '10.0.0.1');
    assert.equal(write(maps, genDir, '203.0.113.2', '10.0.0.2'), fd, 'the second apply used the held fd');
    assert.equal(maps.size, 1);

    // Rebuilt under the same name, as a half-built generation is: the new map gets the write, not the old one.
    await rm(genDir, { recursive: true, force: true });
    await generation('g000000000001');
    write(maps, genDir, '203.0.113.3', '10.0.0.3');
    assert.deepEqual([...(await pinned(genDir))], [['203.0.113.3', '10.0.0.3']]);
    assert.equal(maps.size, 1);
    maps.forget(routerDir);
  });

  it('fails as missing when the pin is gone, and holds one generation per router', async () => {
    const maps = new RouterMaps();
    const first = await generation('g000000000002');
    write(maps, first, '203.0.113.1', '10.0.0.1');
    await rm(generationPaths(first).map('fip2fixed'));
    assert.throws(() => write(maps, first, '203.0.113.2', '10.0.0.2'), /BPF map .*fip2fixed is missing/);
    assert.equal(maps.size, 0, 'the fd of the unpinned map was closed');

    const second = await generation('g000000000003');
    const third = await generation('g000000000004');
    write(maps, second, '203.0.113.1', '10.0.0.1');
    write(maps, third, '203.0.113.1', '10.0.0.1');
    assert.equal(maps.size, 1, "the other generation's fd was closed");
    maps.forget(routerDir);
    assert.equal(maps.size, 0);
  });

  it('sweeps the maps of a generation whose folder went behind its back', async () => {
    const maps = new RouterMaps();
    const genDir = await generation('g000000000005');
    write(maps, genDir, '203.0.113.1', '10.0.0.1');
    maps.sweep();
    assert.equal(maps.size, 1, 'kept while its folder is there');
    await rm(genDir, { recursive: true, force: true });
    maps.sweep();
    assert.equal(maps.size, 0);
  });
});
