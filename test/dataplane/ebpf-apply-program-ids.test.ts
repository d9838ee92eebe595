/**
 * An apply that only changes map entries (a delta's) opens no program pin: the ids of the generation's programs
 * are read from their pins only when stateAfterApply asks, which a delta never does (apply.ts). Reading them after
 * every delta was about 3 % of the daemon's CPU in a fill over 100 routers. Here each program's pin is a folder,
 * which BPF_OBJ_GET refuses (EACCES): reading it fails the apply, so an apply that succeeds read none. Needs root
 * and bpffs; the pins live under a folder of this test's own, removed at the end.
 */
import assert from 'node:assert/strict';
import { mkdir, rm } from 'node:fs/promises';
import { after, describe, it } from 'node:test';
import { applyEbpf } from '../../src/dataplane/ebpf/apply.js';
import { PROGRAM_NAMES } from '../../src/dataplane/ebpf/layout.js';
import { openPinnedMap, readAddressMap } from '../../src/dataplane/ebpf/maps.js';
import { RouterMaps } from '../../src/dataplane/ebpf/open-maps.js';
import { generationPaths } from '../../src/dataplane/ebpf/paths.js';
import type { EbpfBatch } from '../../src/dataplane/ebpf/state.js';
import type { BackendPlan } from '../../src/dataplane/types.js';
import type { Runner } from '../../src/exec/run.js';
import { run } from '../../src/exec/run.js';

const ROUTER = '0b7f4d3e-5a43-4c1e-9a55-6f1d2c3b4a59';
const routerDir = `/sys/fs/bpf/sfip-applyids-${process.pid}`;
const GENERATION = 'g000000000001';

/**
 * A generation folder with the two translation maps pinned (all a map-only batch of one mapping writes), and a
 * folder where each program's pin would be: no program can be read from it.
 */
async function generation(): Promise<string> {
  const genDir = `${routerDir}/${GENERATION}`;
  for (const name of PROGRAM_NAMES) await mkdir(generationPaths(genDir).program(name), { recursive: true });
  for (const name of ['fip2fixed', 'fixed2fip'] as const) {
    await run('bpftool', [
      ...['map', 'create', generationPaths(genDir).map(name), 'type', 'hash', 'key', '4', 'value', '4'],
      ...['entries', '16', 'name', name, 'flags', '1'],
    ]);
  }
  return genDir;
}

const none = { remove: [], set: [] };

/** A delta's batch: one mapping added to the live generation, nothing else. */
function deltaPlan(fip: string, fixed: string): BackendPlan {
  const batch: EbpfBatch = {
    routerId: ROUTER,
    generation: GENERATION,
    build: false,
    capacity: 16,
    inbound: { remove: [], set: [[fip, fixed]] },
    outbound: { remove: [], set: [[fixed, fip]] },
    macs: none,
    internalNets: none,
    forwardIn: none,
    forwardOut: none,
    removeCounters: [],
    config: null,
    nft: null,
    tc: null,
    dropGenerations: [],
  };
  return {
    target: {
      routerId: ROUTER,
      namespace: null,
      gatewayDevice: 'unused',
    },
    batch: JSON.stringify(batch),
    rebuild: false,
    added: [],
    removed: [],
  };
}

/** A runner that fails the test if the apply starts any process. */
const noProcess: Runner = (file) => Promise.reject(new Error(`unexpected process ${file}`));

describe('eBPF map-only apply', () => {
  after(() => rm(routerDir, { recursive: true, force: true }));

  it('writes the entries without reading a program pin, and reads them only when asked', async () => {
    const genDir = await generation();
    const applied = await applyEbpf(deltaPlan('203.0.113.10', '10.0.0.10'), {
      run: noProcess,
      objectPath: '/nonexistent.o',
      routerDir,
      loader: null,
      maps: new RouterMaps(),
    });
    assert.ok(applied);
    const map = openPinnedMap(generationPaths(genDir).map('fip2fixed'))!;
    try {
      assert.deepEqual([...(await readAddressMap(map))], [['203.0.113.10', '10.0.0.10']]);
    } finally {
      map.close();
    }
    // Asked (stateAfterApply after a full pass), the pins are read: here that fails, naming the pin.
    assert.throws(() => applied.programIds(), /Cannot open pinned BPF program .*progs/);
  });
});
