import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import v8 from 'node:v8';
import { exposedGc } from '../../src/daemon/heap-trim.js';
import { readNftCounters } from '../../src/dataplane/nftables/counters.js';
import type { SetDumpChannel } from '../../src/dataplane/common/set-dump-channel.js';
import type { FloatingIpCounters, RouterTarget } from '../../src/dataplane/types.js';
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

/** What the metrics observer keeps of a read: found in the heap snapshot by its class name. */
class KeptRead {
  constructor(readonly counters: FloatingIpCounters[]) {}
}

/**
 * Edges that are the kept read's own data: an array's elements, an object's fields, and the parts a string is made
 * of (a sliced string's parent, a cons string's halves). Maps, prototypes and code are left out: through them the
 * whole heap is reachable, including an optimizing compile job that still holds the parser's locals for a moment
 * (what made an earlier form of this test, which measured the largest string anywhere in the heap, flaky).
 */
const OWN_EDGE =
  /^(element:\d+|property:(?!__proto__$).*|internal:(elements|properties|parent|first|second|actual))$/;

/** The largest string the kept read reaches through its own data, from a heap snapshot after a full collection. */
function largestStringKeptBy(): number {
  exposedGc()!();
  const dir = mkdtempSync(join(tmpdir(), 'sfip-counter-strings-'));
  try {
    const snapshot = JSON.parse(
      readFileSync(v8.writeHeapSnapshot(join(dir, 'heap.heapsnapshot')), 'utf8'),
    ) as {
      snapshot: {
        meta: {
          node_fields: string[];
          node_types: [string[]];
          edge_fields: string[];
          edge_types: [string[]];
        };
      };
      nodes: number[];
      edges: number[];
      strings: string[];
    };
    const {
      node_fields: fields,
      node_types: types,
      edge_fields: edgeFields,
      edge_types: edgeTypes,
    } = snapshot.snapshot.meta;
    const { nodes, edges, strings } = snapshot;
    const at = (node: number, field: string) => nodes[node + fields.indexOf(field)]!;
    const firstEdge = new Map<number, number>();
    let holder = -1;
    for (let node = 0, edge = 0; node < nodes.length; node += fields.length) {
      firstEdge.set(node, edge);
      edge += at(node, 'edge_count') * edgeFields.length;
      if (types[0][at(node, 'type')] === 'object' && strings[at(node, 'name')] === 'KeptRead') holder = node;
    }
    assert.ok(holder >= 0, 'the kept read is in the heap snapshot');
    let largest = 0;
    const seen = new Set([holder]);
    for (const queue = [holder]; queue.length > 0;) {
      const node = queue.pop()!;
      if (types[0][at(node, 'type')]!.endsWith('string')) largest = Math.max(largest, at(node, 'self_size'));
      for (let k = 0; k < at(node, 'edge_count'); k++) {
        const edge = firstEdge.get(node)! + k * edgeFields.length;
        const type = edgeTypes[0][edges[edge]!]!;
        const name =
          type === 'element' || type === 'hidden' ? String(edges[edge + 1]) : strings[edges[edge + 1]!];
        const to = edges[edge + 2]!;
        if (OWN_EDGE.test(`${type}:${name}`) && !seen.has(to)) {
          seen.add(to);
          queue.push(to);
        }
      }
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
  const counters = await readNftCounters(target, noRun, null, channel);
  // Kept, as the metrics observer keeps the last read.
  const kept = new KeptRead(counters);
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
  const largest = largestStringKeptBy();
  assert.equal(kept.counters.length, COUNT);
  assert.ok(
    largest < textLength / 10,
    `the kept read holds a string of ${largest} bytes (the dump was ${textLength})`,
  );
});
