import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import v8 from 'node:v8';
import { exposedGc } from '../../src/daemon/heap-trim.js';
import { readNftCounters } from '../../src/dataplane/nftables/counters.js';
import type { SetDumpChannel } from '../../src/dataplane/common/set-dump-channel.js';
import type { RouterTarget } from '../../src/dataplane/types.js';
import type { Runner } from '../../src/exec/run.js';

const COUNT = 50_000;
/** The dumper's output for COUNT floating IPs whose addresses are 13-15 characters, long enough for V8 to slice. */
function dumpText(): string {
  const lines: string[] = [];
  for (let i = 0; i < COUNT; i++) {
    const address = `100.100.${(i >> 8) & 255}.${i & 255}`;
    lines.push(`fipcount_in ${address} - ${i} ${i * 100}`, `fipcount_out ${address} - ${i} ${i * 50}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The largest string in this process's heap after a full collection, from a heap snapshot. */
function largestString(): number {
  exposedGc()!();
  const dir = mkdtempSync(join(tmpdir(), 'sfip-counter-strings-'));
  try {
    const snapshot = JSON.parse(
      readFileSync(v8.writeHeapSnapshot(join(dir, 'heap.heapsnapshot')), 'utf8'),
    ) as {
      snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
      nodes: number[];
    };
    const { node_fields: fields, node_types: types } = snapshot.snapshot.meta;
    const type = fields.indexOf('type');
    const size = fields.indexOf('self_size');
    let largest = 0;
    for (let i = 0; i < snapshot.nodes.length; i += fields.length) {
      if (types[0][snapshot.nodes[i + type]!] === 'string')
        largest = Math.max(largest, snapshot.nodes[i + size]!);
    }
    return largest;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("counters read through the dumper do not keep the dump's text alive", async () => {
  const textLength = dumpText().length;
  const channel = { dump: async () => dumpText() } as unknown as SetDumpChannel;
  const target = {
    routerId: '11111111-1111-4111-8111-111111111111',
    namespace: null,
  } as unknown as RouterTarget;
  const noRun: Runner = async () => {
    throw new Error('the channel answers: nothing runs');
  };
  // Kept, as the metrics observer keeps the last read.
  const counters = await readNftCounters(target, noRun, null, channel);
  assert.equal(counters.length, COUNT);
  assert.deepEqual(counters[300], {
    floatingIp: '100.100.1.44',
    packetsIn: 300,
    bytesIn: 30_000,
    packetsOut: 300,
    bytesOut: 15_000,
  });
  assert.equal(counters[COUNT - 1]!.floatingIp, '100.100.195.79');
  // Each address split out of the text was a slice of it: the whole text stayed in the heap.
  const largest = largestString();
  assert.ok(
    largest < textLength / 10,
    `a string of ${largest} bytes is still held (the dump was ${textLength})`,
  );
});
