import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  generationOfTable,
  layoutTree,
  LINEAR_CHUNK,
  octetOf,
  TABLE_ID_RANGES,
  type TreeKind,
} from '../../src/dataplane/tc/u32-layout.js';
import type { FloatingMapping } from '../../src/dataplane/types.js';
import { ipv4FromUint32 } from '../../src/model/index.js';

/** n floating IPs from 198.18.0.0 upwards, each mapped to a fixed IP from 10.0.0.0 upwards. */
function mappings(n: number): FloatingMapping[] {
  return Array.from({ length: n }, (_, i) => ({
    floatingIp: ipv4FromUint32(0xc6120000 + i),
    fixedIp: ipv4FromUint32(0x0a000000 + i),
  }));
}

const hashed = { lookup: 'hashed' as const, bucketLimit: 4 };
const linear = { lookup: 'linear' as const, bucketLimit: 4 };

/**
 * An upper bound on how many filters u32 tests for one address: every table on the way down, each bucket's filters.
 * Linear: every filter.
 */
function worstLookup(kind: TreeKind, n: number, lookupOptions: typeof hashed | typeof linear): number {
  const layout = layoutTree(kind, mappings(n), 0, lookupOptions);
  if (lookupOptions.lookup === 'linear') return layout.leaves.length + layout.links.length;
  const perBucket = new Map<string, number>();
  for (const item of [...layout.leaves, ...layout.links]) {
    const key = `${item.table}:${item.bucket}`;
    perBucket.set(key, (perBucket.get(key) ?? 0) + 1);
  }
  return depth(layout) * Math.max(0, ...perBucket.values());
}

function depth(layout: ReturnType<typeof layoutTree>): number {
  const children = new Map<number, number[]>();
  for (const l of layout.links) children.set(l.table, [...(children.get(l.table) ?? []), l.target]);
  const walk = (t: number): number => 1 + Math.max(0, ...(children.get(t) ?? []).map(walk));
  return walk(layout.entryTable);
}

describe('u32 layouts', () => {
  it('uses table ids below 0x800 only, the trees of one qdisc apart and both generations apart', () => {
    // Ids from 0x800 leak in Linux 6.1 before 6.1.190: a deleted table's id stays taken (see TABLE_ID_RANGES).
    const ranges = Object.values(TABLE_ID_RANGES).flat();
    assert.ok(ranges.every(([from, to]) => from >= 0x010 && to <= 0x7ff && from <= to));
    const overlap = (a: readonly (readonly [number, number])[]) =>
      a.some(([f1, t1], i) => a.some(([f2, t2], j) => i !== j && f1 <= t2 && f2 <= t1));
    assert.equal(overlap([...TABLE_ID_RANGES.inbound, ...TABLE_ID_RANGES.outbound]), false);
    assert.equal(overlap([...TABLE_ID_RANGES.hairpin, ...TABLE_ID_RANGES.hairpinSource]), false);
    for (const kind of ['inbound', 'outbound', 'hairpin', 'hairpinSource'] as const) {
      for (const generation of [0, 1] as const) {
        const [from, to] = TABLE_ID_RANGES[kind][generation];
        const layout = layoutTree(kind, mappings(10_000), generation, hashed);
        assert.ok(
          layout.tables.every((t) => t.id >= from && t.id <= to),
          `${kind} generation ${generation}`,
        );
        // Enough ids that no bucket had to take more than the limit.
        const perBucket = new Map<string, number>();
        for (const leaf of layout.leaves) {
          const key = `${leaf.table}:${leaf.bucket}`;
          perBucket.set(key, (perBucket.get(key) ?? 0) + 1);
        }
        assert.ok(Math.max(...perBucket.values()) <= hashed.bucketLimit, `${kind}: a bucket holds too many`);
      }
    }
  });

  it('keeps every hashed bucket within the limit, nesting on the next octet when one fills up', () => {
    for (const n of [1, 1000, 10_000, 100_000]) {
      const layout = layoutTree('inbound', mappings(n), 0, hashed);
      assert.equal(layout.leaves.length, n);
      const perBucket = new Map<string, number>();
      for (const leaf of layout.leaves) {
        const key = `${leaf.table}:${leaf.bucket}`;
        perBucket.set(key, (perBucket.get(key) ?? 0) + 1);
      }
      assert.ok(Math.max(...perBucket.values()) <= hashed.bucketLimit, `${n}: a bucket holds too many`);
      // The bucket a leaf sits in is the octet its table hashes on.
      const tableOctet = new Map<number, number>([[layout.entryTable, 0]]);
      for (const l of layout.links) tableOctet.set(l.target, l.hash!.octet);
      for (const leaf of layout.leaves) {
        assert.equal(leaf.bucket, octetOf(leaf.entry.key, tableOctet.get(leaf.table)!));
      }
    }
  });

  it('makes lookup depth flat in the number of floating IPs when hashed, and linear otherwise', () => {
    const hashedCosts = [1, 1000, 10_000, 100_000].map((n) => worstLookup('inbound', n, hashed));
    assert.ok(
      Math.max(...hashedCosts) <= 8,
      `hashed lookups test at most a few filters: ${hashedCosts.join(', ')}`,
    );
    assert.equal(worstLookup('inbound', 10_000, linear), 10_000 + Math.ceil(10_000 / LINEAR_CHUNK));
  });

  it('splits the linear layout into chunks behind a spine, within the kernel limit per table', () => {
    const layout = layoutTree('outbound', mappings(9000), 0, linear);
    assert.equal(layout.links.length, 3);
    assert.ok(layout.leaves.every((l) => l.node <= LINEAR_CHUNK));
    assert.equal(new Set(layout.leaves.map((l) => l.table)).size, 3);
  });

  it('builds the two generations of a tree from disjoint table ids, and the trees of one qdisc too', () => {
    for (const kind of ['inbound', 'outbound', 'hairpin', 'hairpinSource'] as const) {
      const g0 = layoutTree(kind, mappings(3000), 0, hashed);
      const g1 = layoutTree(kind, mappings(3000), 1, hashed);
      assert.ok(g0.tables.every((t) => generationOfTable(kind, t.id) === 0));
      assert.ok(g1.tables.every((t) => generationOfTable(kind, t.id) === 1));
      // Nothing in 0x800-0x8ff (the kernel's root tables) or below 0x010 (ids it hands out itself).
      for (const t of [...g0.tables, ...g1.tables]) assert.ok(t.id >= 0x10 && (t.id < 0x800 || t.id > 0x8ff));
    }
    const ids = (kind: TreeKind) => TABLE_ID_RANGES[kind].flatMap(([a, b]) => [a, b]);
    assert.ok(Math.max(...ids('inbound')) < Math.min(...ids('outbound')));
    assert.ok(Math.max(...ids('hairpin')) < Math.min(...ids('hairpinSource')));
  });

  it('makes hairpin gates (one per fixed address) jump into the destination tree', () => {
    const layout = layoutTree('hairpin', mappings(50), 0, hashed);
    const gates = layout.leaves.filter((l) => l.kind === 'gate');
    const marks = layout.leaves.filter((l) => l.kind === 'natDestinationMark');
    assert.equal(gates.length, 50);
    assert.equal(marks.length, 50);
    const destinationEntry = new Set(gates.map((g) => g.target));
    assert.equal(destinationEntry.size, 1);
    assert.ok(layout.tables.some((t) => destinationEntry.has(t.id)));
    assert.notEqual(layout.entryTable, [...destinationEntry][0]);
  });

  it('is deterministic', () => {
    assert.deepEqual(
      layoutTree('inbound', mappings(777), 1, hashed),
      layoutTree('inbound', mappings(777), 1, hashed),
    );
  });
});
